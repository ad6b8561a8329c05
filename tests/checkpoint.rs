//! The checkpoint file against the emulator: what it leaves alone in its
//! directory, what it costs per part, and what it logs.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use ens_upload::emulator::{Emulator, TEST_SECURITY_TOKEN, TEST_STS_ACCESS_KEY_SECRET};
use ens_upload::upload::MIN_PART_SIZE;
use ens_upload::{Client, Error, PrepareUploadRequest, ProgressAction, UploadOptions};
use log::{Level, Log, Metadata, Record};

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ens-upload-ckpt-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

fn small_parts() -> UploadOptions {
    UploadOptions::new()
        .part_size(MIN_PART_SIZE)
        .multipart_threshold(MIN_PART_SIZE)
}

fn write_file(path: &Path, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(path, &data).unwrap();
    data
}

fn req() -> PrepareUploadRequest {
    PrepareUploadRequest::new("test")
}

/// `<checkpoint>.tmp` is a name a user may have used for their own file:
/// neither a single PutObject nor a multipart upload removes it.
#[test]
fn a_users_tmp_file_beside_the_checkpoint_survives_uploads() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("user-tmp");
    let small = dir.path("small.bin");
    write_file(&small, 1000);
    let big = dir.path("big.bin");
    let big_data = write_file(&big, 350_000);
    let ckpt = dir.path("up.ckpt");
    let users = dir.path("up.ckpt.tmp");
    std::fs::write(&users, b"the user's own notes").unwrap();

    for (how, path, opts) in [
        ("one PutObject", &small, UploadOptions::new()),
        ("multipart", &big, small_parts()),
    ] {
        let out = client(&emu)
            .upload_file(&req(), "k", path, &opts.checkpoint(&ckpt))
            .unwrap();
        assert_eq!(
            std::fs::read(&users).unwrap(),
            b"the user's own notes",
            "{how}"
        );
        assert!(!ckpt.exists(), "{how}");
        if how == "multipart" {
            assert_eq!(emu.oss_object_bytes(&out.bucket, "k").unwrap(), big_data);
        }
    }
    // Nothing else is left behind in the directory.
    let mut left: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["big.bin", "small.bin", "up.ckpt.tmp"]);
}

/// A symlink planted at the old temporary name, pointing at a victim file:
/// writing the checkpoint neither follows it nor removes it.
#[cfg(unix)]
#[test]
fn a_symlink_planted_at_the_temporary_name_is_not_followed() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("symlink");
    let big = dir.path("big.bin");
    write_file(&big, 350_000);
    let victim = dir.path("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let ckpt = dir.path("up.ckpt");
    let planted = dir.path("up.ckpt.tmp");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();

    client(&emu)
        .upload_file(&req(), "k", &big, &small_parts().checkpoint(&ckpt))
        .unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let link = std::fs::symlink_metadata(&planted).unwrap();
    assert!(link.file_type().is_symlink(), "the link is still there");
    assert_eq!(std::fs::read_link(&planted).unwrap(), victim);
}

/// A request the tiny OSS saw: method, target and body.
struct Seen {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// A tiny OSS stand-in answering each request with `answer(request)` (raw
/// HTTP, connection closed after it).
fn tiny_oss(answer: impl Fn(&Seen) -> String + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break 0,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
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
            let seen = Seen {
                method: words.next().unwrap_or_default().to_owned(),
                target: words.next().unwrap_or_default().to_owned(),
                body: buf[head_end..].to_vec(),
            };
            let _ = s.write_all(answer(&seen).as_bytes());
        }
    });
    addr
}

fn http_answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nx-oss-request-id: TINY\r\nContent-Length: {}\r\n\
         Connection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

/// OSS answering InitiateMultipartUpload with `upload_id` and every
/// UploadPart with `etag` (and the right CRC-64); anything else fails.
fn oss_answering(upload_id: String, etag: String) -> SocketAddr {
    tiny_oss(move |r| match r.method.as_str() {
        "POST" if r.target.ends_with("?uploads") => http_answer(
            "200 OK",
            "Content-Type: application/xml\r\n",
            &format!(
                "<InitiateMultipartUploadResult><UploadId>{upload_id}</UploadId>\
                 </InitiateMultipartUploadResult>"
            ),
        ),
        "PUT" => http_answer(
            "200 OK",
            &format!(
                "ETag: {etag}\r\nx-oss-hash-crc64ecma: {}\r\n",
                ens_upload::crc64::checksum(&r.body)
            ),
            "",
        ),
        "DELETE" => http_answer("204 No Content", "", ""),
        _ => http_answer("400 Bad Request", "", ""),
    })
}

/// An UploadId or ETag longer than their caps (or with characters a
/// checkpoint line cannot hold) is refused, naming it, before it is
/// written to the checkpoint.
#[test]
fn server_strings_over_their_caps_are_refused_before_they_are_stored() {
    let dir = TempDir::new("caps");
    let path = dir.path("f.bin");
    write_file(&path, 250_000);
    let ok_id = "0123456789ABCDEF0123456789ABCDEF".to_owned();
    let ok_etag = "\"0123456789ABCDEF0123456789ABCDEF\"".to_owned();
    for (field, upload_id, etag) in [
        ("UploadId", "A".repeat(5000), ok_etag.clone()),
        ("UploadId", "A B".to_owned(), ok_etag.clone()),
        ("ETag", ok_id.clone(), format!("\"{}\"", "E".repeat(5000))),
    ] {
        let oss = oss_answering(upload_id, etag).to_string();
        let ens = Emulator::builder().oss_endpoint(&oss).start().unwrap();
        let ckpt = dir.path("f.ckpt");
        let opts = small_parts()
            .threads(1)
            .checkpoint(&ckpt)
            .allow_upload_host(oss);
        let e = client(&ens)
            .upload_file(&req(), "k", &path, &opts)
            .unwrap_err();
        match &e {
            Error::Decode { reason, .. } => assert!(reason.contains(field), "{field}: {reason}"),
            other => panic!("{field}: {other:?}"),
        }
        match field {
            "UploadId" => assert!(!ckpt.exists(), "nothing stored"),
            _ => assert_eq!(common::checkpoint_parts(&ckpt).unwrap(), Vec::<u32>::new()),
        }
        let _ = std::fs::remove_file(&ckpt);
    }
}

/// A checkpoint the previous version wrote (format 1, one JSON document)
/// is resumed from: no listed part is sent again.
#[test]
fn a_checkpoint_of_the_previous_version_resumes() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("v1");
    let path = dir.path("f.bin");
    let data = write_file(&path, 700_000);
    let ckpt = dir.path("f.ckpt");
    let cancel = small_parts()
        .threads(1)
        .checkpoint(&ckpt)
        .on_progress(|done, _| {
            if done >= 300_000 {
                ProgressAction::Cancel
            } else {
                ProgressAction::Continue
            }
        });
    let e = client(&emu)
        .upload_file(&req(), "v", &path, &cancel)
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");

    // Rewrite it the way the previous version did.
    let text = std::fs::read_to_string(&ckpt).unwrap();
    let mut lines = text.lines();
    let mut v1: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let parts = v1["parts"].as_array_mut().unwrap();
    for record in lines {
        let f: Vec<&str> = record.split(' ').collect();
        parts.push(serde_json::json!({
            "number": f[1].parse::<u32>().unwrap(),
            "etag": f[4],
            "crc64": f[3],
            "size": f[2].parse::<u64>().unwrap(),
        }));
    }
    let listed: Vec<u64> = parts
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert!(listed.len() >= 2, "{listed:?}");
    v1["format"] = "ens-upload-checkpoint/1".into();
    std::fs::write(&ckpt, serde_json::to_vec_pretty(&v1).unwrap()).unwrap();

    emu.clear_requests();
    let out = client(&emu)
        .upload_file(&req(), "v", &path, &small_parts().checkpoint(&ckpt))
        .unwrap();
    assert_eq!(out.resumed_parts as usize, listed.len());
    assert_eq!(emu.oss_object_bytes(&out.bucket, "v").unwrap(), data);
    let requests = emu.requests();
    for n in &listed {
        let again = requests
            .iter()
            .any(|r| r.method == "PUT" && r.param("partNumber") == Some(&n.to_string()));
        assert!(!again, "part {n} sent again");
    }
    assert!(!requests
        .iter()
        .any(|r| r.method == "POST" && r.raw_query == "uploads"));
    assert!(!ckpt.exists());
}

/// Every record the library logged in this test binary.
struct Capture(Mutex<Vec<(Level, String)>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        if record.target().starts_with("ens_upload") {
            let line = (record.level(), record.args().to_string());
            self.0.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
        c
    })
}

/// The records that mention `checkpoint` (the path: unique to a test).
fn logged_about(checkpoint: &Path) -> Vec<(Level, String)> {
    let needle = checkpoint.display().to_string();
    capture()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains(&needle))
        .cloned()
        .collect()
}

/// Asserts one record mentions `checkpoint` at `level` with every one of
/// `words`.
fn assert_logged(checkpoint: &Path, level: Level, words: &[&str]) {
    let lines = logged_about(checkpoint);
    assert!(
        lines
            .iter()
            .any(|(l, m)| *l == level && words.iter().all(|w| m.contains(w))),
        "no {level} line with {words:?} in {lines:#?}"
    );
}

/// Each checkpoint decision is an info line naming the checkpoint (and the
/// upload), a cleanup that failed is a warning, and no secret is logged.
#[test]
fn checkpoint_decisions_are_logged() {
    capture();
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("log");
    let path = dir.path("f.bin");
    write_file(&path, 700_000);
    let sts = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.sts_credentials())
        .read_timeout(Duration::from_secs(5))
        .retry_base_delay(Duration::from_millis(10))
        .build()
        .unwrap();
    let [c1, c2, c3, c4] = ["1", "2", "3", "4"].map(|n| dir.path(&format!("f{n}.ckpt")));
    let cancel = small_parts()
        .threads(1)
        .checkpoint(&c1)
        .on_progress(|done, _| {
            if done >= 300_000 {
                ProgressAction::Cancel
            } else {
                ProgressAction::Continue
            }
        });
    let e = sts.upload_file(&req(), "f", &path, &cancel).unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
    let upload_id = common::checkpoint_upload_id(&c1);
    assert_logged(&c1, Level::Info, &["new upload", &upload_id]);
    let done = common::checkpoint_parts(&c1).unwrap().len().to_string();
    std::fs::copy(&c1, &c2).unwrap();
    std::fs::copy(&c1, &c3).unwrap();

    // Resumed, then completed: the upload is gone from the server.
    sts.upload_file(&req(), "f", &path, &small_parts().checkpoint(&c1))
        .unwrap();
    assert_logged(&c1, Level::Info, &["resuming", &upload_id, &done, "of 7"]);

    // A copy naming that finished upload: the server forgot it.
    sts.upload_file(&req(), "f", &path, &small_parts().checkpoint(&c2))
        .unwrap();
    assert_logged(
        &c2,
        Level::Info,
        &["no longer knows", &upload_id, "starting over"],
    );

    // The file changed since the other copy: started over, and aborting
    // the forgotten upload fails (a warning, not an error).
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    drop(file);
    sts.upload_file(&req(), "f", &path, &small_parts().checkpoint(&c3))
        .unwrap();
    assert_logged(&c3, Level::Info, &["starting over", "changed"]);
    let aborts: Vec<_> = capture()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains("could not abort") && m.contains(&upload_id))
        .cloned()
        .collect();
    assert!(
        aborts
            .iter()
            .any(|(l, m)| *l == Level::Warn && m.contains("NoSuchUpload")),
        "{aborts:#?}"
    );

    // Damaged: started over.
    std::fs::write(&c4, br#"{"format":"ens-upload-checkpoint/2","parts":"#).unwrap();
    sts.upload_file(&req(), "f", &path, &small_parts().checkpoint(&c4))
        .unwrap();
    assert_logged(&c4, Level::Info, &["starting over", "damaged"]);

    for (_, m) in capture().0.lock().unwrap().iter() {
        for secret in [TEST_STS_ACCESS_KEY_SECRET, TEST_SECURITY_TOKEN] {
            assert!(!m.contains(secret), "secret in a log line: {m}");
        }
    }
}
