//! Uploads signed with OSS signature V4 against an emulator that requires
//! one region and refuses V1 like a bucket created since 2025.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ens_upload::emulator::Emulator;
use ens_upload::{
    Client, Credentials, Error, OssSignature, PrepareUploadRequest, ProgressAction, UploadOptions,
};

const REGION: &str = "cn-hangzhou";

/// An emulator that takes V4 in `REGION` only and refuses V1.
fn new_bucket_emulator() -> Emulator {
    Emulator::builder()
        .oss_region(REGION)
        .oss_refuse_v1()
        .start()
        .unwrap()
}

fn client(emu: &Emulator, creds: Credentials) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(creds)
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap()
}

/// A file of `len` bytes in the temp directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, len: usize) -> TempFile {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "ens-upload-v4-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, data).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("ckpt"));
    }
}

/// The `Authorization` schemes of the OSS requests the emulator saw.
fn oss_auth_schemes(emu: &Emulator) -> Vec<String> {
    emu.requests()
        .iter()
        .filter(|r| r.method != "POST" || r.path != "/")
        .filter_map(|r| r.header("authorization"))
        .map(|a| a.split(' ').next().unwrap_or_default().to_owned())
        .collect()
}

fn multipart(region: Option<&str>) -> UploadOptions {
    let o = UploadOptions::new()
        .part_size(100 * 1024)
        .multipart_threshold(100 * 1024)
        .threads(4);
    match region {
        Some(r) => o.region(r),
        None => o,
    }
}

#[test]
fn put_object_and_multipart_on_four_threads_sign_v4() {
    let emu = new_bucket_emulator();
    let c = client(&emu, emu.credentials());
    let small = TempFile::new("small.bin", 2000);
    let out = c
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/small.bin",
            &small.0,
            &UploadOptions::new().region(REGION),
        )
        .unwrap();
    assert_eq!(out.size, 2000);
    let big = TempFile::new("big.bin", 1024 * 1024 + 7);
    let out = c
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/big.bin",
            &big.0,
            &multipart(Some(REGION)),
        )
        .unwrap();
    assert_eq!(out.parts, 11);
    let stored = emu.oss_object_bytes(&out.bucket, "v4/big.bin").unwrap();
    assert_eq!(stored, std::fs::read(&big.0).unwrap());
    let schemes = oss_auth_schemes(&emu);
    assert!(schemes.len() >= 14, "{schemes:?}");
    assert!(
        schemes.iter().all(|s| s == "OSS4-HMAC-SHA256"),
        "{schemes:?}"
    );
}

#[test]
fn sts_and_a_skewed_server_clock_work_with_v4() {
    let emu = Emulator::builder()
        .oss_region(REGION)
        .oss_refuse_v1()
        .clock_skew_secs(3 * 3600)
        .start()
        .unwrap();
    let c = client(&emu, emu.sts_credentials());
    let f = TempFile::new("sts.bin", 300 * 1024);
    let out = c
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/sts.bin",
            &f.0,
            &multipart(Some(REGION)),
        )
        .unwrap();
    assert_eq!(out.parts, 3);
    assert!((c.clock_offset() - 3 * 3600).abs() <= 5);
    let token_sent = emu
        .requests()
        .iter()
        .any(|r| r.header("x-oss-security-token").is_some());
    assert!(token_sent);
}

#[test]
fn a_wrong_region_is_refused_as_oss_refuses_it() {
    let emu = new_bucket_emulator();
    let f = TempFile::new("region.bin", 100);
    let e = client(&emu, emu.credentials())
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/region.bin",
            &f.0,
            &UploadOptions::new().region("cn-beijing"),
        )
        .unwrap_err();
    assert_eq!(e.http_status(), Some(400), "{e}");
    assert!(e.to_string().contains("region"), "{e}");
}

#[test]
fn v1_refused_without_a_region_says_to_set_one() {
    let emu = new_bucket_emulator();
    let f = TempFile::new("norgn.bin", 100);
    let e = client(&emu, emu.credentials())
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/norgn.bin",
            &f.0,
            &UploadOptions::new(),
        )
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(e.http_status(), Some(403), "{text}");
    assert_eq!(e.api().unwrap().ec, "0002-00000080", "{text}");
    assert!(
        text.contains("signature V1") && text.contains("--region") && text.contains("region"),
        "{text}"
    );
    assert_eq!(e.attempts(), 1, "a refusal is not retried: {text}");
}

#[test]
fn v1_refused_with_a_region_known_switches_to_v4_once() {
    let emu = new_bucket_emulator();
    let f = TempFile::new("switch.bin", 400 * 1024);
    let out = client(&emu, emu.credentials())
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/switch.bin",
            &f.0,
            &multipart(Some(REGION)).oss_signature(OssSignature::V1),
        )
        .unwrap();
    assert_eq!(out.parts, 4);
    let schemes = oss_auth_schemes(&emu);
    assert_eq!(schemes[0], "OSS", "{schemes:?}");
    assert!(
        schemes[1..].iter().all(|s| s == "OSS4-HMAC-SHA256"),
        "{schemes:?}"
    );
}

#[test]
fn forcing_v4_without_a_known_region_is_refused_before_sending() {
    let emu = new_bucket_emulator();
    let f = TempFile::new("force.bin", 100);
    let e = client(&emu, emu.credentials())
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/force.bin",
            &f.0,
            &UploadOptions::new().oss_signature(OssSignature::V4),
        )
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert_eq!(oss_auth_schemes(&emu).len(), 0);
}

#[test]
fn a_checkpoint_made_with_v1_resumes_with_v4() {
    // V1 accepted here, so the first run can sign it; the region is known.
    let emu = Emulator::builder().oss_region(REGION).start().unwrap();
    let c = client(&emu, emu.credentials());
    let f = TempFile::new("resume.bin", 800 * 1024);
    let ckpt = f.0.with_extension("ckpt");
    let cancel_after = |limit: u64| {
        move |done: u64, _total: u64| {
            if done >= limit {
                ProgressAction::Cancel
            } else {
                ProgressAction::Continue
            }
        }
    };
    let first = c.upload_file(
        &PrepareUploadRequest::new("test"),
        "v4/resume.bin",
        &f.0,
        &multipart(Some(REGION))
            .threads(1)
            .oss_signature(OssSignature::V1)
            .checkpoint(&ckpt)
            .on_progress(cancel_after(300 * 1024)),
    );
    assert!(matches!(first, Err(Error::Cancelled { .. })), "{first:?}");
    assert!(ckpt.exists());
    emu.clear_requests();
    let out = c
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/resume.bin",
            &f.0,
            &multipart(Some(REGION)).checkpoint(&ckpt),
        )
        .unwrap();
    assert!(out.resumed_parts >= 2, "{out:?}");
    assert_eq!(
        emu.oss_object_bytes(&out.bucket, "v4/resume.bin").unwrap(),
        std::fs::read(&f.0).unwrap()
    );
    let schemes = oss_auth_schemes(&emu);
    assert!(
        !schemes.is_empty() && schemes.iter().all(|s| s == "OSS4-HMAC-SHA256"),
        "{schemes:?}"
    );
}

#[test]
fn an_oss_host_refusing_the_v4_date_for_skew_is_believed_and_signed_again_once() {
    // ENS on time; the OSS host three hours ahead, so only it refuses.
    let oss = Emulator::builder()
        .oss_region(REGION)
        .oss_refuse_v1()
        .clock_skew_secs(3 * 3600)
        .start()
        .unwrap();
    let ens = Emulator::builder()
        .oss_endpoint(oss.addr().to_string())
        .start()
        .unwrap();
    let c = client(&ens, ens.credentials());
    let f = TempFile::new("skew.bin", 1000);
    let out = c
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "v4/skew.bin",
            &f.0,
            &UploadOptions::new()
                .region(REGION)
                .allow_upload_host(oss.addr().to_string()),
        )
        .unwrap();
    assert_eq!(out.size, 1000);
    let codes: Vec<Option<String>> = oss.requests().iter().map(|r| r.code.clone()).collect();
    assert_eq!(
        codes,
        [Some("RequestTimeTooSkewed".to_owned()), None],
        "one refusal, then the same PutObject signed with the corrected date"
    );
    assert!((c.clock_offset() - 3 * 3600).abs() <= 5);
}
