//! The command-line example `examples/prepare_upload/`, run as a user runs
//! it: against its bundled emulator (`--emulator`), preparing only, and
//! uploading a file with `--file`, `--key` and `--checkpoint`; usage errors
//! exit 2, other errors 1.
//!
//! `cargo test` builds the examples, but `cargo test --test cli` does not,
//! so the binary is built here with the same cargo, target directory and
//! profile (`cargo build --example prepare_upload --features emulator`, a
//! no-op when it is up to date). The environment cargo gives this test
//! process is not passed on (a build script watching `CARGO_MANIFEST_DIR`
//! would otherwise rebuild half the tree on each run, for both sides).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A run that takes longer is stuck.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// `<target>/<profile>`, where cargo put this test binary
/// (`<target>/<profile>/deps/cli-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Whether cargo set `name` for this test process (and would see it as a
/// change when a nested cargo's build script watches it).
fn set_by_cargo_for_the_test(name: &str) -> bool {
    [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        || [
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ]
        .contains(&name)
}

/// The example binary, built once per test process.
fn example() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let profile_dir = profile_dir();
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug")
            .to_owned();
        let target_dir = profile_dir.parent().expect("target dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--example",
            "prepare_upload",
            "--features",
            "emulator",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir);
        for (name, _) in std::env::vars_os() {
            if set_by_cargo_for_the_test(&name.to_string_lossy()) {
                cmd.env_remove(&name);
            }
        }
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let out = cmd.output().expect("run cargo build --example");
        assert!(
            out.status.success(),
            "cargo build --example prepare_upload failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exe = profile_dir
            .join("examples")
            .join(format!("prepare_upload{}", std::env::consts::EXE_SUFFIX));
        assert!(exe.exists(), "no {}", exe.display());
        exe
    })
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("ens-upload-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the example with `args`: stdout and stderr are pipes (not
/// terminals), no credentials or proxies from this environment, a home
/// of its own. Fails after [`RUN_LIMIT`].
fn run(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(example());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("HOME", home);
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy().to_ascii_uppercase();
        if n.starts_with("ALIBABA_CLOUD_") || n.ends_with("_PROXY") || n == "ENS_ENDPOINT" {
            cmd.env_remove(&name);
        }
    }
    let mut child = cmd.spawn().expect("start the example");
    // Drain both pipes while waiting, so a chatty child never blocks.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the example") {
            break s;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("prepare_upload {args:?} ran for more than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// stdout is exactly one line holding one JSON object; returns it.
fn one_json_object(out: &Output) -> serde_json::Map<String, serde_json::Value> {
    let stdout = text(&out.stdout);
    assert!(
        stdout.ends_with('\n') && stdout.trim_end().lines().count() == 1,
        "stdout is not one line: {stdout:?}"
    );
    match serde_json::from_str::<serde_json::Value>(stdout.trim_end()) {
        Ok(serde_json::Value::Object(m)) => m,
        other => panic!("stdout is not a JSON object: {stdout:?} ({other:?})"),
    }
}

fn keys(m: &serde_json::Map<String, serde_json::Value>) -> Vec<&str> {
    let mut k: Vec<&str> = m.keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn str_field<'a>(m: &'a serde_json::Map<String, serde_json::Value>, k: &str) -> &'a str {
    m.get(k)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("{k} is not a string in {m:?}"))
}

/// Deterministic, non-repeating bytes.
fn content(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn prepares_against_the_emulator() {
    let home = TempDir::new("prepare");
    let out = run(&home.0, &["--emulator", "--bucket", "test"]);
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    let m = one_json_object(&out);
    assert_eq!(keys(&m), ["BucketName", "Endpoint", "RequestId"], "{m:?}");
    assert!(str_field(&m, "BucketName").starts_with("test-"), "{m:?}");
    let endpoint = str_field(&m, "Endpoint");
    assert!(
        endpoint.starts_with("127.0.0.1:") && endpoint[10..].parse::<u16>().is_ok(),
        "{m:?}"
    );
    assert!(!str_field(&m, "RequestId").is_empty(), "{m:?}");
    assert!(
        text(&out.stderr).contains("emulator"),
        "stderr does not say the emulator answered: {}",
        text(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let home = TempDir::new("usage");
    for args in [
        &[][..],
        &["--bucket"],
        &["--emulator"],
        &["--bucket", "test", "--frobnicate"],
        &[
            "--bucket",
            "test",
            "--emulator",
            "--endpoint",
            "http://127.0.0.1:1",
        ],
        &["--bucket", "test", "--emulator", "--key", "k"],
        &["--bucket", "test", "--emulator", "--checkpoint", "c"],
        &["--bucket", "test", "--emulator", "--file"],
    ] {
        let out = run(&home.0, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains("usage: prepare_upload"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let help = run(&home.0, &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).starts_with("usage: prepare_upload"));
}

#[test]
fn errors_exit_1_with_the_error_on_stderr() {
    let home = TempDir::new("errors");
    let out = run(&home.0, &["--emulator", "--bucket", "missing"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("NoSuchBucket"),
        "{}",
        text(&out.stderr)
    );

    let missing = home.0.join("no-such-file.bin");
    let out = run(
        &home.0,
        &[
            "--emulator",
            "--bucket",
            "test",
            "--file",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("no-such-file.bin"),
        "{}",
        text(&out.stderr)
    );
}

/// `--file` with `--key` and `--checkpoint`: a file just over the default
/// 8 MiB threshold goes in two parts with a checkpoint, removed after;
/// without `--key` the key is the file's name. stderr is a pipe, so no
/// progress bar is drawn on it.
#[test]
fn uploads_a_file_and_prints_the_result() {
    let dir = TempDir::new("upload");
    let data = content((8 << 20) + 1000);
    let file = dir.0.join("clip.mp4");
    std::fs::write(&file, &data).unwrap();
    let ckpt = dir.0.join("clip.ckpt");
    let out = run(
        &dir.0,
        &[
            "--emulator",
            "--bucket",
            "test",
            "--file",
            file.to_str().unwrap(),
            "--key",
            "videos/clip 1.mp4",
            "--checkpoint",
            ckpt.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let m = one_json_object(&out);
    assert_eq!(
        keys(&m),
        [
            "Bucket",
            "Crc64",
            "ETag",
            "Endpoint",
            "Key",
            "Parts",
            "PrepareRequestId",
            "RequestId",
            "ResumedParts",
            "Size",
            "UploadId",
            "Url"
        ],
        "{m:?}"
    );
    assert!(str_field(&m, "Bucket").starts_with("test-"), "{m:?}");
    assert!(str_field(&m, "Endpoint").starts_with("127.0.0.1:"), "{m:?}");
    assert_eq!(str_field(&m, "Key"), "videos/clip 1.mp4");
    assert!(
        str_field(&m, "Url").ends_with("/videos/clip%201.mp4"),
        "{m:?}"
    );
    assert_eq!(m["Size"].as_u64(), Some(data.len() as u64));
    // Decimal, as a string (JSON numbers lose precision above 2^53).
    assert_eq!(
        str_field(&m, "Crc64"),
        ens_upload::crc64::checksum(&data).to_string()
    );
    assert_eq!(m["Parts"].as_u64(), Some(2), "{m:?}");
    assert_eq!(m["ResumedParts"].as_u64(), Some(0), "{m:?}");
    assert!(!str_field(&m, "UploadId").is_empty(), "{m:?}");
    assert!(!str_field(&m, "ETag").is_empty(), "{m:?}");
    assert!(!str_field(&m, "PrepareRequestId").is_empty(), "{m:?}");
    assert!(!str_field(&m, "RequestId").is_empty(), "{m:?}");
    assert!(!ckpt.exists(), "the checkpoint is left after success");
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("[#") && !stderr.contains("MiB"),
        "a progress bar on a stderr that is not a terminal: {stderr:?}"
    );

    // One PutObject, the key defaulting to the file's name.
    let small = dir.0.join("small.bin");
    std::fs::write(&small, b"hello").unwrap();
    let out = run(
        &dir.0,
        &[
            "--emulator",
            "--bucket",
            "test",
            "--file",
            small.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let m = one_json_object(&out);
    assert_eq!(str_field(&m, "Key"), "small.bin");
    assert_eq!(m["Size"].as_u64(), Some(5));
    assert_eq!(m["Parts"].as_u64(), Some(0));
    assert!(m["UploadId"].is_null(), "{m:?}");
    assert_eq!(
        str_field(&m, "Crc64"),
        ens_upload::crc64::checksum(b"hello").to_string()
    );
}
