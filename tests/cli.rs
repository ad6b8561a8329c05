//! The command-line example `examples/prepare_upload/`, run as a user runs
//! it: against its bundled emulator (`--emulator`), preparing only, and
//! uploading a file with `--file`, `--key` and `--checkpoint`; usage errors
//! exit 2, other errors 1.
//!
//! `cargo test` builds the examples, but `cargo test --test cli` does not,
//! so the binary is built here with the same cargo, target directory and
//! profile (`cargo build --example prepare_upload --features emulator`, a
//! no-op when it is up to date; quiet unless it fails: see
//! `common::cargo_build`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{Ran, TempDir};

/// A run that takes longer is stuck.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The example binary, built once per test process.
fn example() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let profile_dir = common::profile_dir();
        let target_dir = profile_dir.parent().expect("target dir");
        common::cargo_build(
            &["--example", "prepare_upload", "--features", "emulator"],
            target_dir,
        );
        let exe = profile_dir
            .join("examples")
            .join(format!("prepare_upload{}", std::env::consts::EXE_SUFFIX));
        assert!(exe.exists(), "no {}", exe.display());
        exe
    })
}

/// Runs the example with `args`: stdout and stderr are files in `home`
/// (not terminals), no credentials or proxies from this environment, a
/// home of its own. Fails after [`RUN_LIMIT`].
fn run(home: &TempDir, args: &[&str]) -> Ran {
    let mut cmd = Command::new(example());
    cmd.args(args)
        .env("HOME", home.path())
        .current_dir(home.path());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy().to_ascii_uppercase();
        if n.starts_with("ALIBABA_CLOUD_") || n.ends_with("_PROXY") || n == "ENS_ENDPOINT" {
            cmd.env_remove(&name);
        }
    }
    common::run(cmd, home.path(), "prepare_upload", RUN_LIMIT)
}

/// stdout is exactly one line holding one JSON object; returns it.
fn one_json_object(out: &Ran) -> serde_json::Map<String, serde_json::Value> {
    let stdout = &out.stdout;
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
fn signatures_are_chosen_with_flags_and_bad_values_are_usage_errors() {
    let home = TempDir::new("signatures");
    let acs3 = run(
        &home,
        &["--emulator", "--bucket", "test", "--signature", "acs3"],
    );
    assert_eq!(acs3.status.code(), Some(0), "{}", acs3.describe());
    one_json_object(&acs3);
    let file = home.write("v4.bin", content(1000));
    let v4 = run(
        &home,
        &[
            "--emulator",
            "--bucket",
            "test",
            "--file",
            file.to_str().unwrap(),
            "--region",
            "cn-hangzhou",
            "-vv",
        ],
    );
    assert_eq!(v4.status.code(), Some(0), "{}", v4.describe());
    assert!(
        v4.stderr.contains("OSS signature V4") && v4.stderr.contains("cn-hangzhou"),
        "{}",
        v4.stderr
    );
    let bad_host = run(
        &home,
        &[
            "--emulator",
            "--bucket",
            "test",
            "--file",
            file.to_str().unwrap(),
            "--allow-upload-host",
            "a/b",
        ],
    );
    assert_eq!(bad_host.status.code(), Some(1), "{}", bad_host.describe());
    assert!(
        bad_host.stderr.contains("allowed upload host"),
        "{}",
        bad_host.stderr
    );
    for bad in [
        &["--signature", "v9"][..],
        &["--oss-signature", "v5", "--file", "x"][..],
        &["--region", "cn-hangzhou"][..],
        &["--allow-upload-host", "oss.example"][..],
    ] {
        let mut args = vec!["--emulator", "--bucket", "test"];
        args.extend_from_slice(bad);
        let out = run(&home, &args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", out.describe());
        assert!(
            out.stdout.is_empty() || out.stdout.starts_with("usage"),
            "{bad:?}"
        );
    }
}

#[test]
fn an_upload_without_credentials_goes_to_the_emulator_only_when_asked() {
    let home = TempDir::new("nocreds");
    let file = home.write("a.bin", content(100));
    let out = run(
        &home,
        &["--bucket", "test", "--file", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty(), "no result printed: {}", out.stdout);
    assert!(
        out.stderr.contains("--emulator") && out.stderr.contains("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        "{}",
        out.stderr
    );
    // Prepare-only falls back, and says the answer is the emulator's.
    let out = run(&home, &["--bucket", "test"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert_eq!(
        one_json_object(&out)["Emulator"],
        serde_json::Value::Bool(true)
    );
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.contains("credentials"))
            .count(),
        1,
        "one line about credentials: {}",
        out.stderr
    );
}

#[test]
fn a_path_that_is_not_utf8_uploads_instead_of_panicking() {
    use std::os::unix::ffi::OsStrExt;
    let home = TempDir::new("notutf8");
    let path = home
        .path()
        .join(std::ffi::OsStr::from_bytes(b"clip-\xff.bin"));
    std::fs::write(&path, content(100)).unwrap();
    let mut cmd = Command::new(example());
    cmd.arg("--emulator")
        .args(["--bucket", "test", "--key", "k", "--file"])
        .arg(&path)
        .env("HOME", home.path());
    let out = common::run(cmd, home.path(), "prepare_upload", RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert_eq!(str_field(&one_json_object(&out), "Key"), "k");
}

#[test]
fn a_broken_stdout_is_exit_1_with_the_result_on_stderr() {
    let home = TempDir::new("epipe");
    let mut child = Command::new(example())
        .args(["--emulator", "--bucket", "test"])
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody will read the result: the write fails with EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write the result") && stderr.contains("BucketName"),
        "{stderr}"
    );
}

#[test]
fn prepares_against_the_emulator() {
    let home = TempDir::new("prepare");
    let out = run(&home, &["--emulator", "--bucket", "test"]);
    assert!(out.status.success(), "{:?}: {}", out.status, out.stderr);
    assert_eq!(out.status.code(), Some(0));
    let m = one_json_object(&out);
    // A stand-in's answer says so.
    assert_eq!(
        keys(&m),
        ["BucketName", "Emulator", "Endpoint", "RequestId"],
        "{m:?}"
    );
    assert_eq!(m["Emulator"], serde_json::Value::Bool(true));
    assert!(str_field(&m, "BucketName").starts_with("test-"), "{m:?}");
    let endpoint = str_field(&m, "Endpoint");
    assert!(
        endpoint.starts_with("127.0.0.1:") && endpoint[10..].parse::<u16>().is_ok(),
        "{m:?}"
    );
    assert!(!str_field(&m, "RequestId").is_empty(), "{m:?}");
    assert!(
        out.stderr.contains("emulator"),
        "stderr does not say the emulator answered: {}",
        out.stderr
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
        let out = run(&home, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {:?} {}",
            out.status,
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("usage: prepare_upload"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let help = run(&home, &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(help.stdout.starts_with("usage: prepare_upload"));
}

#[test]
fn errors_exit_1_with_the_error_on_stderr() {
    let home = TempDir::new("errors");
    let out = run(&home, &["--emulator", "--bucket", "missing"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("NoSuchBucket"), "{}", out.stderr);

    let missing = home.join("no-such-file.bin");
    let out = run(
        &home,
        &[
            "--emulator",
            "--bucket",
            "test",
            "--file",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("no-such-file.bin"), "{}", out.stderr);
}

/// `--file` with `--key` and `--checkpoint`: a file just over the default
/// 8 MiB threshold goes in two parts with a checkpoint, removed after;
/// without `--key` the key is the file's name. stderr is a file, not a terminal, so no
/// progress bar is drawn on it.
#[test]
fn uploads_a_file_and_prints_the_result() {
    let dir = TempDir::new("upload");
    let data = content((8 << 20) + 1000);
    let file = dir.join("clip.mp4");
    std::fs::write(&file, &data).unwrap();
    let ckpt = dir.join("clip.ckpt");
    let out = run(
        &dir,
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
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let m = one_json_object(&out);
    assert_eq!(
        keys(&m),
        [
            "Bucket",
            "Crc64",
            "ETag",
            "Emulator",
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
    let stderr = &out.stderr;
    assert!(
        !stderr.contains('\r') && !stderr.contains("[#") && !stderr.contains("MiB"),
        "a progress bar on a stderr that is not a terminal: {stderr:?}"
    );

    // One PutObject, the key defaulting to the file's name.
    let small = dir.join("small.bin");
    std::fs::write(&small, b"hello").unwrap();
    let out = run(
        &dir,
        &[
            "--emulator",
            "--bucket",
            "test",
            "--file",
            small.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
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

/// The example's command with this test's environment scrubbed (as
/// [`run`] does), for runs this file starts and stops itself.
fn command(home: &TempDir, exe: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env("HOME", home.path())
        .current_dir(home.path());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy().to_ascii_uppercase();
        if n.starts_with("ALIBABA_CLOUD_") || n.ends_with("_PROXY") || n == "ENS_ENDPOINT" {
            cmd.env_remove(&name);
        }
    }
    cmd
}

/// As [`command`], with Ctrl-C's signal (SIGINT) back to its default in
/// the program, as at a terminal: a test run started in the background
/// (`cargo test &` from a script, nohup) ignores SIGINT, and every child
/// inherits that. `env --default-signal` (GNU coreutils 8.31 and later)
/// resets it before running the program.
fn command_with_default_sigint(home: &TempDir, exe: &Path, args: &[&str]) -> Command {
    let resets = Command::new("env")
        .args(["--default-signal=INT", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !resets {
        return command(home, exe, args);
    }
    let mut all = vec!["--default-signal=INT".to_owned(), exe.display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    command(home, Path::new("env"), &all)
}

/// Waits for `child` to end, at most [`common::EVENT_WAIT`]; kills it and
/// fails the test naming `what` after that.
fn wait_bounded(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + common::EVENT_WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until `ready` holds; fails the test naming `what`.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + common::EVENT_WAIT;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn without_credentials_the_emulator_answers_saying_so_in_one_line() {
    let home = TempDir::new("fallback");
    let out = run(&home, &["--bucket", "test"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let m = one_json_object(&out);
    assert_eq!(m["Emulator"], serde_json::Value::Bool(true), "{m:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", out.stderr);
    assert!(
        lines[0].starts_with("prepare_upload: no cloud credentials found, so the bundled emulator at http://127.0.0.1:")
            && lines[0].contains("--emulator"),
        "{}",
        lines[0]
    );
}

/// The README's resume example, interrupted: an upload with
/// `--emulator-data-dir` and `--checkpoint`, killed once a part is stored,
/// goes on where it stopped when run again (the in-process emulator kept
/// its uploads and its port in the directory). Without the directory, the
/// run says the emulator keeps nothing.
#[test]
fn an_upload_to_the_emulator_data_dir_resumes_after_a_kill() {
    let home = TempDir::new("resume-data-dir");
    let data = content((16 << 20) + 4321);
    std::fs::write(home.join("clip.mp4"), &data).unwrap();
    let args = [
        "--bucket",
        "test",
        "--emulator-data-dir",
        "./emulator-data",
        "--file",
        "./clip.mp4",
        "--key",
        "videos/clip.mp4",
        "--checkpoint",
        "./clip.ckpt",
    ];
    // Each part answered a second late, so the kill lands mid-upload.
    let mut slow = args.to_vec();
    slow.extend(["--emulator-fault", "oss-slow=1000:100"]);
    let mut child = command(&home, example(), &slow)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = home.join("clip.ckpt");
    wait_for("a part in the checkpoint", || {
        common::checkpoint_parts(&ckpt).is_some_and(|p| !p.is_empty())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let stored = common::checkpoint_parts(&ckpt).unwrap();
    assert!(stored.len() < 3, "finished before the kill: {stored:?}");

    let out = run(&home, &args);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let m = one_json_object(&out);
    assert_eq!(m["Parts"].as_u64(), Some(3), "{m:?}");
    assert_eq!(
        m["ResumedParts"].as_u64(),
        Some(stored.len() as u64),
        "{m:?}"
    );
    assert_eq!(
        str_field(&m, "Crc64"),
        ens_upload::crc64::checksum(&data).to_string()
    );
    assert!(
        out.stderr.contains("its data kept in ./emulator-data"),
        "{}",
        out.stderr
    );

    let out = run(
        &home,
        &[
            "--bucket",
            "test",
            "--emulator",
            "--file",
            "./clip.mp4",
            "--checkpoint",
            "./c2.ckpt",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("keeps nothing after this run")
            && out.stderr.contains("--emulator-data-dir"),
        "{}",
        out.stderr
    );
}

/// Ctrl-C at a terminal (a pseudo-terminal from `script`, the key sent
/// through it): the upload is cancelled and the program says what was
/// stored and how to resume, exit status 130. The progress line on a
/// 40-column terminal never takes more than 39 columns.
#[test]
fn ctrl_c_at_a_terminal_cancels_and_says_how_to_resume() {
    common::require_tool(
        "script",
        Command::new("script").arg("--version"),
        "the Ctrl-C test (it needs a terminal)",
    );
    let home = TempDir::new("ctrl-c");
    // Five parts on two threads: parts are still to be read when the key
    // comes, so the cancel is heard (it goes through the progress callback).
    std::fs::write(home.join("clip.mp4"), content((40 << 20) - 99)).unwrap();
    let cmd = format!(
        "{} --bucket test --emulator-data-dir ./emu --emulator-fault oss-slow=1500:100 \
         --file ./clip.mp4 --checkpoint ./clip.ckpt",
        example().display()
    );
    let mut child =
        command_with_default_sigint(&home, Path::new("script"), &["-qfec", &cmd, "/dev/null"])
            .env("COLUMNS", "40")
            .stdin(std::process::Stdio::piped())
            .stdout(std::fs::File::create(home.join("terminal.txt")).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    let ckpt = home.join("clip.ckpt");
    wait_for("a part in the checkpoint", || {
        common::checkpoint_parts(&ckpt).is_some_and(|p| !p.is_empty())
    });
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"\x03").unwrap();
        stdin.flush().unwrap();
    }
    let status = wait_bounded(&mut child, "the CLI after Ctrl-C");
    let terminal = std::fs::read_to_string(home.join("terminal.txt")).unwrap();
    assert_eq!(status.code(), Some(130), "{terminal}");
    assert!(
        terminal.contains("prepare_upload: cancelled (Ctrl-C) with ")
            && terminal.contains("MiB stored.")
            && terminal.contains("Run the same command again to resume"),
        "{terminal}"
    );
    for drawn in terminal.split('\r').filter(|s| s.contains('%')) {
        let drawn = drawn.replace("\x1b[K", "");
        let drawn = drawn.trim_end_matches(['\n', '^', 'C']);
        assert!(drawn.chars().count() <= 39, "{drawn:?}");
    }
    assert!(ckpt.exists(), "the checkpoint is kept");
}

/// The standalone emulator, stopped by Ctrl-C (SIGINT) or SIGTERM, leaves
/// no uploaded body behind.
#[cfg(unix)]
#[test]
fn the_standalone_emulator_removes_its_bodies_when_interrupted() {
    use std::io::BufRead;
    let exe = {
        static EXE: OnceLock<PathBuf> = OnceLock::new();
        EXE.get_or_init(|| {
            let profile_dir = common::profile_dir();
            common::cargo_build(
                &["--example", "emulator", "--features", "emulator"],
                profile_dir.parent().expect("target dir"),
            );
            profile_dir.join("examples").join("emulator")
        })
    };
    let home = TempDir::new("emulator-signals");
    let file = home.join("f.bin");
    std::fs::write(&file, b"bytes to be cleaned up").unwrap();
    for signal in ["-INT", "-TERM"] {
        let mut emulator = command_with_default_sigint(&home, exe, &[])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(emulator.stdout.take().unwrap()).lines();
        let (mut endpoint, mut storage) = (None, None);
        while endpoint.is_none() || storage.is_none() {
            let line = lines.next().expect("the emulator's banner").unwrap();
            if let Some(e) = line.strip_prefix("ENS emulator listening on ") {
                endpoint = Some(e.to_owned());
            }
            if let Some(s) = line.strip_prefix("Storage:") {
                storage = Some(PathBuf::from(s.split_whitespace().next().unwrap()));
            }
        }
        let (endpoint, storage) = (endpoint.unwrap(), storage.unwrap());
        let client = ens_upload::Client::builder()
            .endpoint(&endpoint)
            .credentials(ens_upload::Credentials::access_key(
                ens_upload::emulator::TEST_ACCESS_KEY_ID,
                ens_upload::emulator::TEST_ACCESS_KEY_SECRET,
            ))
            .build()
            .unwrap();
        client
            .upload_file(
                &ens_upload::PrepareUploadRequest::new("test"),
                "f",
                &file,
                &ens_upload::UploadOptions::new(),
            )
            .unwrap();
        assert!(storage.is_dir(), "{} holds the body", storage.display());
        let killed = Command::new("kill")
            .arg(signal)
            .arg(emulator.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        wait_bounded(&mut emulator, &format!("the emulator after kill {signal}"));
        wait_for("the storage directory to go", || !storage.exists());
    }
}

/// Runs the example with `input` piped to its standard input (a pipe, not
/// a file: it cannot seek), bounded by [`RUN_LIMIT`].
fn run_with_stdin(home: &TempDir, args: &[&str], input: Vec<u8>) -> (i32, String, String) {
    let mut cmd = command(home, example(), args);
    cmd.env("TMPDIR", home.path().join("tmp"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the example");
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The program may stop reading early (a usage error): fine.
        let _ = std::io::Write::write_all(&mut pipe, &input);
    });
    let out = common::within(RUN_LIMIT, move || child.wait_with_output().unwrap());
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--file -`: standard input streamed with `--size` (here in parts, under
/// a rate limit), or buffered to a temporary file without it (removed
/// afterwards); a short input, and the flags that do not go with it.
#[test]
fn standard_input_uploads_with_or_without_its_size() {
    let home = TempDir::new("cli-stdin");
    let data = content(600_000);
    let crc = ens_upload::crc64::checksum(&data).to_string();
    let tmp = home.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let base = ["--emulator", "--bucket", "test", "--file", "-"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |args: Vec<String>, input: Vec<u8>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_with_stdin(&home, &args, input)
    };
    // Streamed: 600 kB at 1 MB/s.
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run(
        with(&[
            "--key",
            "in/a.bin",
            "--size",
            "600000",
            "--limit-rate",
            "1000000",
        ]),
        data.clone(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    let out: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(out["Size"], 600_000);
    assert_eq!(out["Crc64"], crc.as_str());
    // Size unknown: through a temporary file in TMPDIR (`run_with_stdin`
    // sets it), gone afterwards.
    let (code, stdout, stderr) = run(
        with(&["--key", "in/b.bin", "--traffic-limit", "819200"]),
        data.clone(),
    );
    assert_eq!(code, 0, "{stderr}");
    let out: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(out["Crc64"], crc.as_str());
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the temporary file was removed"
    );
    // Shorter than --size: an error, nothing stored.
    let (code, _, stderr) = run(
        with(&["--key", "in/c.bin", "--size", "700000"]),
        data.clone(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("ended before the size given"), "{stderr}");
    // Usage errors.
    for (args, says) in [
        (with(&["--size", "10"]), "needs --key"),
        (
            with(&["--key", "k", "--checkpoint", "c.ckpt"]),
            "standard input cannot resume",
        ),
        (
            vec![
                "--emulator",
                "--bucket",
                "test",
                "--file",
                "f",
                "--size",
                "1",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "--size is for --file -",
        ),
        (
            with(&["--key", "k", "--limit-rate", "fast"]),
            "whole number",
        ),
    ] {
        let (code, _, stderr) = run(args, Vec::new());
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

/// The object flags: metadata, tags, storage class, headers and
/// forbid-overwrite reach the stored object (read from the emulator's data
/// directory, whose log keeps them); a second upload with
/// `--forbid-overwrite` is refused (exit 1, OSS's code on stderr); bad
/// values are usage errors (exit 2) or the library's refusal naming the
/// field (exit 1), and the flags need `--file`.
#[test]
fn object_flags_set_what_the_object_is_stored_with() {
    let home = TempDir::new("object-flags");
    std::fs::write(home.join("clip.bin"), content(300_000)).unwrap();
    let args = [
        "--bucket",
        "test",
        "--emulator-data-dir",
        "./emulator-data",
        "--file",
        "./clip.bin",
        "--key",
        "clips/a.mp4",
        "--meta",
        "Device-Id=cam-7",
        "--meta",
        "note=a=b",
        "--tag",
        "site=north gate",
        "--storage-class",
        "ia",
        "--cache-control",
        "no-cache",
        "--content-disposition",
        "attachment",
        "--forbid-overwrite",
        "--part-size",
        "100K",
        "--max-threads",
        "1",
    ];
    let out = run(&home, &args);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let log = std::fs::read_to_string(home.join("emulator-data/store.log")).unwrap();
    let object = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v.get("Object").cloned())
        .unwrap_or_else(|| panic!("no object in the log: {log}"));
    assert_eq!(object["content_type"], "video/mp4", "{object}");
    let meta = &object["meta"];
    assert_eq!(
        meta["user"],
        serde_json::json!([["device-id", "cam-7"], ["note", "a=b"]]),
        "{object}"
    );
    assert_eq!(meta["tags"], serde_json::json!([["site", "north gate"]]));
    assert_eq!(meta["storage_class"], "IA");
    assert_eq!(meta["cache_control"], "no-cache");
    assert_eq!(meta["content_disposition"], "attachment");
    // Again with --forbid-overwrite: refused, nothing replaced.
    let again = run(&home, &args);
    assert_eq!(again.status.code(), Some(1), "{}", again.describe());
    assert!(
        again.stderr.contains("FileAlreadyExists") && again.stderr.contains("already exists"),
        "{}",
        again.stderr
    );
    // Usage errors.
    for bad in [
        &["--meta", "novalue"][..],
        &["--tag", "=v"],
        &["--storage-class", "Glacier"],
        &["--part-size", "8X"],
        &["--threads", "many"],
    ] {
        let mut a = vec!["--bucket", "test", "--emulator", "--file", "./clip.bin"];
        a.extend_from_slice(bad);
        let out = run(&home, &a);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", out.describe());
    }
    let without_file = run(&home, &["--bucket", "test", "--emulator", "--meta", "a=b"]);
    assert_eq!(without_file.status.code(), Some(2));
    assert!(without_file.stderr.contains("need --file"));
    // Refused by the library, naming the field: exit 1, nothing uploaded.
    let refused = run(
        &home,
        &[
            "--bucket",
            "test",
            "--emulator",
            "--file",
            "./clip.bin",
            "--meta",
            "a b=c",
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains("metadata name"),
        "{}",
        refused.stderr
    );
}

/// The CLI runs the whole default chain: a credentials URI (the chain's
/// last step, with the ECS step turned off) serves refreshing STS
/// credentials, and the answer is the server's, not the bundled emulator's.
#[test]
fn the_default_chain_reaches_network_providers() {
    let home = TempDir::new("cli-chain-uri");
    let emu = ens_upload::emulator::Emulator::start().unwrap();
    let endpoint = emu.endpoint();
    let mut cmd = command(
        &home,
        example(),
        &["--bucket", "test", "--endpoint", &endpoint, "-v"],
    );
    cmd.env("ALIBABA_CLOUD_CREDENTIALS_URI", emu.credentials_uri())
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    let out = common::run(cmd, home.path(), "prepare_upload", RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    let json = one_json_object(&out);
    assert!(json["BucketName"].as_str().unwrap().starts_with("test"));
    assert!(json.get("Emulator").is_none(), "{json:?}");
    assert!(out.stderr.contains("credentials URI"), "{}", out.stderr);
    assert_eq!(
        emu.issued_credentials(ens_upload::emulator::IssuedBy::CredentialsUri),
        1
    );
}
