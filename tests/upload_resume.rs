//! A device killed mid-upload: a child process (this test binary, run again
//! in child mode) uploads with a checkpoint and is SIGKILLed once a part is
//! committed; the parent resumes with the same call. The object must be
//! byte-identical, and no part the checkpoint listed may be sent again.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ens_upload::emulator::{Emulator, Fault, TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET};
use ens_upload::upload::MIN_PART_SIZE;
use ens_upload::{Client, Credentials, PrepareUploadRequest, UploadOptions};

/// Set in the child: `endpoint|file|checkpoint|key`.
const CHILD_ENV: &str = "ENS_UPLOAD_TEST_CHILD";
const FILE_LEN: usize = 4 * (1 << 20) + 4321;

fn options(checkpoint: &Path) -> UploadOptions {
    UploadOptions::new()
        .part_size(MIN_PART_SIZE)
        .multipart_threshold(MIN_PART_SIZE)
        .threads(2)
        .checkpoint(checkpoint)
}

fn client(endpoint: &str) -> Client {
    Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::access_key(
            TEST_ACCESS_KEY_ID,
            TEST_ACCESS_KEY_SECRET,
        ))
        .retry_base_delay(Duration::from_millis(10))
        .build()
        .unwrap()
}

/// The child's side: upload until killed. Run only by the parent test
/// (`--ignored --exact`), in a process of its own.
#[test]
#[ignore = "the child process of killed_mid_upload_then_resumed"]
fn child_upload_until_killed() {
    let spec = std::env::var(CHILD_ENV).expect("run by the parent test, with its spec");
    let parts: Vec<&str> = spec.split('|').collect();
    let [endpoint, file, checkpoint, key] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let out = client(endpoint).upload_file(
        &PrepareUploadRequest::new("test"),
        key,
        file,
        &options(Path::new(checkpoint)),
    );
    // Reaching here means the kill came too late; the parent reports it.
    println!("child finished: {:?}", out.map(|o| o.parts));
}

#[test]
fn killed_mid_upload_then_resumed() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let emu = Emulator::start().unwrap();
    let dir: PathBuf = std::env::temp_dir().join(format!("ens-upload-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("video.bin");
    let checkpoint = dir.join("video.ckpt");
    let _ = std::fs::remove_file(&checkpoint);
    let data: Vec<u8> = (0..FILE_LEN).map(|i| (i * 31 + i / 4099) as u8).collect();
    std::fs::write(&file, &data).unwrap();

    // Every write answered after 100 ms, so the kill lands mid-upload.
    emu.inject(Fault::OssSlow(Duration::from_millis(100)), 1000);
    let spec = format!(
        "{}|{}|{}|videos/killed.bin",
        emu.endpoint(),
        file.display(),
        checkpoint.display()
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_upload_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let started = Instant::now();
    let listed = loop {
        if let Some(parts) = common::checkpoint_parts(&checkpoint).filter(|p| !p.is_empty()) {
            break parts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the child never committed a part"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended by itself: {status}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    emu.clear_faults();

    // What the checkpoint says after the kill (it may have grown since).
    let listed_at_kill = common::checkpoint_parts(&checkpoint).unwrap();
    assert!(listed_at_kill.len() >= listed.len());
    let total_parts = (FILE_LEN as u64).div_ceil(MIN_PART_SIZE) as u32;
    assert!(
        (listed_at_kill.len() as u32) < total_parts,
        "the kill landed after the last part"
    );

    let out = client(&emu.endpoint())
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "videos/killed.bin",
            &file,
            &options(&checkpoint),
        )
        .unwrap();
    assert_eq!(out.resumed_parts as usize, listed_at_kill.len());
    assert_eq!(out.parts, total_parts);
    assert_eq!(
        emu.oss_object_bytes(&out.bucket, "videos/killed.bin")
            .unwrap(),
        data,
        "byte-identical"
    );
    let requests = emu.requests();
    for n in &listed_at_kill {
        let sent = requests
            .iter()
            .filter(|r| r.method == "PUT" && r.param("partNumber") == Some(&n.to_string()))
            .count();
        assert_eq!(sent, 1, "part {n} was listed as done yet sent {sent} times");
    }
    let initiated = requests
        .iter()
        .filter(|r| r.method == "POST" && r.raw_query == "uploads")
        .count();
    assert_eq!(initiated, 1, "resumed, not started over");
    assert!(!checkpoint.exists());
    assert_eq!(emu.oss_uploads_in_progress(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
