//! What the library logs through the `log` facade: a debug line per
//! request attempt, an info line for a learned clock offset, at the right
//! levels, and never a secret, token or signature.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ens_upload::emulator::{Emulator, Fault, TEST_SECURITY_TOKEN, TEST_STS_ACCESS_KEY_SECRET};
use ens_upload::{Client, PrepareUploadRequest, UploadOptions};
use log::{Level, Log, Metadata, Record};

/// Every record the library logged in this test process.
struct Capture(Mutex<Vec<(Level, String, String)>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        if record.target().starts_with("ens_upload") {
            self.0.lock().unwrap().push((
                record.level(),
                record.target().to_owned(),
                record.args().to_string(),
            ));
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

/// The records whose message contains `needle`.
fn records_with(needle: &str) -> Vec<(Level, String)> {
    capture()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, m)| m.contains(needle))
        .map(|(l, _, m)| (*l, m.clone()))
        .collect()
}

/// No record holds the STS secret, the token (raw or percent-encoded) or a
/// signature value.
fn assert_no_secret_logged() {
    let encoded = ens_upload::sign::percent_encode(TEST_SECURITY_TOKEN);
    for (_, _, m) in capture().0.lock().unwrap().iter() {
        for secret in [TEST_STS_ACCESS_KEY_SECRET, TEST_SECURITY_TOKEN, &encoded] {
            assert!(!m.contains(secret), "secret in a log line: {m}");
        }
        assert!(!m.contains("Signature="), "signature in a log line: {m}");
    }
}

fn sts_client(emu: &Emulator) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.sts_credentials())
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap()
}

#[test]
fn each_attempt_is_a_debug_line_with_its_status_and_request_id() {
    capture();
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::InternalError, 1);
    let out = sts_client(&emu)
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    let lines = records_with(&format!("request id {}", out.request_id));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, Level::Debug);
    assert!(
        lines[0]
            .1
            .starts_with("PrepareUpload attempt 2: HTTP 200 in "),
        "{lines:?}"
    );
    let failed = records_with("PrepareUpload attempt 1: HTTP 500");
    assert!(failed.iter().all(|(l, _)| *l == Level::Debug), "{failed:?}");
    assert!(!failed.is_empty());
    assert!(!records_with("retrying in").is_empty());
    assert_no_secret_logged();
}

#[test]
fn a_learned_clock_offset_is_an_info_line() {
    capture();
    let emu = Emulator::builder()
        .clock_skew_secs(3 * 3600)
        .start()
        .unwrap();
    sts_client(&emu)
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    let lines = records_with("learned the server clock offset");
    assert!(
        lines
            .iter()
            .any(|(l, m)| *l == Level::Info && m.contains("+10")),
        "{lines:?}"
    );
    assert_no_secret_logged();
}

#[test]
fn upload_requests_are_logged_by_operation_without_secrets() {
    capture();
    let emu = Emulator::start().unwrap();
    let data = vec![7u8; 300 * 1024];
    let options = UploadOptions::new()
        .part_size(100 * 1024)
        .multipart_threshold(100 * 1024);
    sts_client(&emu)
        .upload_reader(
            &PrepareUploadRequest::new("test"),
            "logs/a.bin",
            &data[..],
            data.len() as u64,
            &options,
        )
        .unwrap();
    for op in [
        "InitiateMultipartUpload attempt 1: HTTP 200",
        "UploadPart attempt 1: HTTP 200",
        "CompleteMultipartUpload attempt 1: HTTP 200",
    ] {
        let lines = records_with(op);
        assert!(
            !lines.is_empty() && lines.iter().all(|(l, _)| *l == Level::Debug),
            "{op}: {lines:?}"
        );
    }
    assert_no_secret_logged();
}
