//! The checkpoint file against the emulator: what it leaves alone in its
//! directory, what it costs per part, and what it logs.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ens_upload::emulator::Emulator;
use ens_upload::upload::MIN_PART_SIZE;
use ens_upload::{Client, PrepareUploadRequest, UploadOptions};

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
