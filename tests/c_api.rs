//! The C API from C: compiles the programs in `tests/c/` and the example in
//! `examples/c/` against `include/ens_upload.h` and `libens_upload.a`, and
//! runs them against the emulator and against local servers that misbehave.
//!
//! Three variants of the same programs: plain, under valgrind memcheck (no
//! errors, no definitely or indirectly lost bytes), and built with
//! `-fsanitize=address,undefined`. Also: the header's version macros and
//! declarations, and the example's Makefile and CMakeLists.txt.
//!
//! A test whose tool (a C compiler, valgrind, make, cmake, pkg-config) is
//! missing fails, naming it and the package to install
//! (`tests/common/tools.rs`): a test that did not run never passes.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{profile_dir, run};
use ens_upload::emulator::{self, Emulator, Fault, IssuedBy, KeyState, RecordedRequest};

/// What `cargo rustc -- --print native-static-libs` prints for this target
/// (Linux, glibc): the system libraries a program linking the static library
/// needs besides it. Kept in README.md (C API), ens_upload.pc.in, the Makefile
/// and examples/c/ too.
const NATIVE_STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// A self-signed certificate for the CA-file setters (never used to verify:
/// the emulator is plain http).
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBnTCCAUOgAwIBAgIUSzmFrDZi79FwHbUV5hWEXpsG+jAwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYZW5zLXVwbG9hZCBDIEFQSSB0ZXN0IENBMCAXDTI2MTEyNTA0
Mzk1MloYDzIxMjYxMTAxMDQzOTUyWjAjMSEwHwYDVQQDDBhlbnMtdXBsb2FkIEMg
QVBJIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARBuEHujbPviIHk
axniovk2D024ngsYx2F9s9VMD+WJpWAzNWtMhXEngYrry99ouAVg7D9Hmg50ukqq
z9u0BA03o1MwUTAdBgNVHQ4EFgQUvvjD4sG4VdnyQp3OfxMqpE9qBVwwHwYDVR0j
BBgwFoAUvvjD4sG4VdnyQp3OfxMqpE9qBVwwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNIADBFAiAWyAcmL4zXxsRrjF9pH4uF0c70FClLeGfxLEuwTETsJwIh
AK/HvZ6+LeLPWtgU/Vq1o3DNGmyqb1zgXnNidUrOZWX4
-----END CERTIFICATE-----
";

/// The C test programs, each run against a fresh emulator.
const C_TESTS: &[&str] = &[
    "test_success",
    "test_errors",
    "test_args",
    "test_threads",
    "test_upload",
    "test_faults",
    "test_log",
    "test_signatures",
    "test_credentials",
    "test_buffer_stream",
    "test_metadata",
];

/// The one region the third emulator of every run (`ENS_TEST_V4_ENDPOINT`)
/// takes OSS signature V4 in; it refuses V1.
const V4_REGION: &str = "cn-hangzhou";

/// How far ahead of this machine's clock the second emulator of every run
/// (`ENS_TEST_SKEWED_ENDPOINT`) keeps its own.
const SKEW_SECS: i64 = 3 * 3600;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool the test needs: present (true), or the test fails naming it.
fn require(tool: &str, probe: &mut Command, what_for: &str) -> bool {
    common::require_tool(tool, probe, what_for);
    true
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "c++".into())
}

fn have_cc() -> bool {
    require(
        &cc(),
        Command::new(cc()).arg("--version"),
        "the C API tests",
    )
}

/// The shared library's SONAME, as the Makefile gives it:
/// `libens_upload.so.<major>`, where a 0.x version's major is `0.<minor>`.
fn soname() -> String {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    if major == "0" {
        format!("libens_upload.so.0.{}", env!("CARGO_PKG_VERSION_MINOR"))
    } else {
        format!("libens_upload.so.{major}")
    }
}

/// Where the C libraries of this test run are built: `<target>/c-api`, so
/// their `cargo rustc` runs never touch the test build's own artifacts.
fn c_api_target_dir() -> PathBuf {
    profile_dir().parent().expect("target dir").join("c-api")
}

/// The static library, fresh, and the shared one beside it. The crate is an
/// rlib only, so this builds both C libraries the way the Makefile's
/// `staticlib` and `sharedlib` do (`cargo rustc --lib --crate-type ...`,
/// the same cargo and profile as this test; a no-op when nothing changed)
/// once per test process: a `libens_upload.a` left by an earlier build is
/// never linked stale.
fn staticlib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let test_dir = profile_dir();
        let profile = test_dir
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("debug");
        let target_dir = c_api_target_dir();
        let lib = target_dir.join(profile).join("libens_upload.a");
        common::cargo_rustc(&["--lib", "--crate-type", "staticlib"], &[], &target_dir);
        let soname = format!("link-arg=-Wl,-soname,{}", soname());
        common::cargo_rustc(
            &["--lib", "--crate-type", "cdylib"],
            &["-C", &soname],
            &target_dir,
        );
        for built in [&lib, &lib.with_extension("so")] {
            assert!(
                built.exists(),
                "cargo rustc --lib did not produce {}",
                built.display()
            );
        }
        lib
    })
}

/// A fresh, empty directory under `<target>/<profile>/c-api-tests/`.
fn scratch(name: &str) -> PathBuf {
    let dir = profile_dir().join("c-api-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Build {
    /// `-O1 -g`: run as is and under valgrind.
    Plain,
    /// `-fsanitize=address,undefined`.
    Sanitized,
}

/// Compiles one C file (as C11, or as C++ when `cxx`) and links it against
/// the static library. Panics with the compiler's output on failure.
fn compile(src: &Path, out: &Path, build: Build, cxx_mode: bool) -> PathBuf {
    let mut cmd = Command::new(if cxx_mode { cxx() } else { cc() });
    if cxx_mode {
        cmd.args(["-x", "c++", "-std=c++11"]);
    } else {
        cmd.arg("-std=c11");
    }
    cmd.args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-O1"])
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("tests").join("c"));
    if build == Build::Sanitized {
        cmd.args([
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ]);
    }
    cmd.arg("-o").arg(out).arg(src);
    if cxx_mode {
        cmd.args(["-x", "none"]);
    }
    cmd.arg(staticlib()).args(NATIVE_STATIC_LIBS);
    let output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "compiling {} failed:\n{cmd:?}\n{}{}",
        src.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out.to_path_buf()
}

/// Local servers that answer wrongly, one URL each.
struct OddServers {
    closed: String,
    silent: String,
    not_http: String,
    redirect: String,
    garbage: String,
    html_error: String,
    huge: String,
}

/// Serves every connection on a loopback port with `answer` (after reading
/// the request head); `None` reads and then holds the connection silently
/// until the client gives up. The threads end with the test process.
fn serve(answer: Option<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || answer_one(stream, answer));
        }
    });
    url
}

fn answer_one(mut stream: TcpStream, answer: Option<Vec<u8>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    match answer {
        Some(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
        }
        None => {
            // Hold the connection open until the client closes it.
            let mut sink = [0u8; 256];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
}

/// Serves every connection on a loopback port by writing `banner` at once,
/// before reading anything, as an SSH server does: what a TLS client meets
/// when it dials the wrong port.
fn serve_speaking_first(banner: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let _ = stream.write_all(banner);
                let mut sink = [0u8; 256];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    url
}

fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

impl OddServers {
    fn start() -> OddServers {
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", l.local_addr().expect("addr"))
            // Dropped here: connecting is refused.
        };
        OddServers {
            closed,
            silent: serve(None),
            not_http: serve_speaking_first(b"SSH-2.0-OpenSSH_9.6\r\nnot http at all\r\n\r\n"),
            redirect: serve(Some(http(
                "302 Found",
                "Location: http://redirect.invalid/elsewhere\r\n",
                b"",
            ))),
            garbage: serve(Some(http(
                "200 OK",
                "Content-Type: text/html\r\n",
                b"<html>not json</html>",
            ))),
            html_error: serve(Some(http(
                "403 Forbidden",
                "Content-Type: text/html\r\n",
                b"<html><body>Forbidden by proxy policy</body></html>",
            ))),
            huge: serve(Some(http(
                "200 OK",
                "Content-Type: application/json\r\n",
                &vec![b' '; (1 << 20) + 4096],
            ))),
        }
    }
}

/// Everything a C test program needs to know, as environment variables, on
/// a clean environment (no ALIBABA_CLOUD_*, an empty HOME of its own).
fn test_env(cmd: &mut Command, emu: &Emulator, odd: &OddServers, dir: &Path) {
    let home = dir.join("home");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("home");
    let ca = dir.join("test-ca.pem");
    std::fs::write(&ca, TEST_CA_PEM).expect("write CA file");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").expect("write empty file");
    let denied = |want: KeyState| {
        emulator::TEST_DENIED_KEYS
            .iter()
            .find(|(_, s)| *s == want)
            .map(|(id, _)| *id)
            .expect("a denied key of that kind")
    };
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        // Not an ECS instance: the default chain must not wait on
        // 100.100.100.200 (the C tests expect ENS_ERR_NO_CREDENTIALS).
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("TMPDIR", dir)
        .env("LC_ALL", "C")
        .env("ENS_TEST_ENDPOINT", emu.endpoint())
        .env("ENS_TEST_EXPECT_VERSION", env!("CARGO_PKG_VERSION"))
        .env("ENS_TEST_ACCESS_KEY_ID", emulator::TEST_ACCESS_KEY_ID)
        .env(
            "ENS_TEST_ACCESS_KEY_SECRET",
            emulator::TEST_ACCESS_KEY_SECRET,
        )
        .env(
            "ENS_TEST_STS_ACCESS_KEY_ID",
            emulator::TEST_STS_ACCESS_KEY_ID,
        )
        .env(
            "ENS_TEST_STS_ACCESS_KEY_SECRET",
            emulator::TEST_STS_ACCESS_KEY_SECRET,
        )
        .env("ENS_TEST_SECURITY_TOKEN", emulator::TEST_SECURITY_TOKEN)
        .env("ENS_TEST_KEY_ACCESS_DENIED", denied(KeyState::AccessDenied))
        .env("ENS_TEST_KEY_USER_DISABLE", denied(KeyState::UserDisable))
        .env("ENS_TEST_KEY_NO_PERMISSION", denied(KeyState::NoPermission))
        .env("ENS_TEST_CA_FILE", &ca)
        .env("ENS_TEST_EMPTY_FILE", &empty)
        .env("ENS_TEST_CLOSED_URL", &odd.closed)
        .env("ENS_TEST_SILENT_URL", &odd.silent)
        .env("ENS_TEST_NOT_HTTP_URL", &odd.not_http)
        .env("ENS_TEST_REDIRECT_URL", &odd.redirect)
        .env("ENS_TEST_GARBAGE_URL", &odd.garbage)
        .env("ENS_TEST_HTML_ERROR_URL", &odd.html_error)
        .env("ENS_TEST_HUGE_URL", &odd.huge);
}

/// The control channel of a C test run (`ENS_TEST_CONTROL`, `host:port`):
/// the program connects, sends one command line and reads one line back
/// (`tests/c/test_control.h`), so it can inject faults into the emulators
/// of this process and read what they saw, between its own calls. Each
/// line is `<emulator> <command> [args]`, `<emulator>` being `main`
/// (`ENS_TEST_ENDPOINT`), `skewed` (`ENS_TEST_SKEWED_ENDPOINT`) or `v4`
/// (`ENS_TEST_V4_ENDPOINT`):
///
/// - `inject SPEC COUNT`: `Emulator::inject` with a `Fault` parsed from
///   SPEC as the emulator example's `--fault` takes it (`reset`,
///   `slow=MS`, `oss-bad-crc`...); answers `ok`.
/// - `clear-faults`: answers `ok`. `pending`: faults not played yet.
/// - `schemes`: `ACS3 RPC OSS4 OSS1`, how many requests were signed each way.
/// - `issued sts|oidc|ecs|uri`: credentials issued by that service.
/// - `requests`: requests seen so far. `uploads`: multipart uploads in
///   progress.
/// - `object BUCKET KEY`: `SIZE CRC64 CONTENT-TYPE` of a stored object, or
///   `none`.
/// - `parts KEY N`: UploadPart requests for part N of KEY.
/// - `initiates KEY`, `puts KEY`: InitiateMultipartUpload and PutObject
///   requests for KEY.
///
/// Anything else answers `error: ...`, which fails the program.
struct Control {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Control {
    fn start(emulators: Vec<(&'static str, Arc<Emulator>)>) -> Control {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the control channel");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                control_session(stream, &emulators);
            }
        });
        Control {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Control {
    /// Stops the accept loop (which holds the emulators) and waits for it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers every command line of one connection.
fn control_session(stream: TcpStream, emulators: &[(&'static str, Arc<Emulator>)]) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let answer = control_answer(line.trim(), emulators)
            .unwrap_or_else(|e| format!("error: {e} (command {line:?})"));
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

fn control_answer(
    line: &str,
    emulators: &[(&'static str, Arc<Emulator>)],
) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (name, command, args) = match words.as_slice() {
        [name, command, args @ ..] => (*name, *command, args),
        _ => return Err("expected `<emulator> <command> [args]`".into()),
    };
    let emu = emulators
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, e)| e)
        .ok_or_else(|| format!("no emulator named {name:?}"))?;
    let count = |pred: &dyn Fn(&RecordedRequest) -> bool| {
        emu.requests()
            .iter()
            .filter(|r| pred(r))
            .count()
            .to_string()
    };
    let for_key = |r: &RecordedRequest, key: &str| r.path.ends_with(&format!("/{key}"));
    Ok(match (command, args) {
        ("inject", [spec, times]) => {
            let fault: Fault = spec.parse()?;
            let times = times.parse().map_err(|_| format!("bad count {times:?}"))?;
            emu.inject(fault, times);
            "ok".into()
        }
        ("clear-faults", []) => {
            emu.clear_faults();
            "ok".into()
        }
        ("pending", []) => emu.pending_faults().to_string(),
        ("schemes", []) => {
            let auth = |r: &RecordedRequest| r.header("authorization").unwrap_or("").to_owned();
            let rpc = count(&|r| r.path == "/" && r.param("Signature").is_some());
            let acs3 = count(&|r| auth(r).starts_with("ACS3-HMAC-SHA256 "));
            let oss4 = count(&|r| auth(r).starts_with("OSS4-HMAC-SHA256 "));
            let oss1 = count(&|r| auth(r).starts_with("OSS "));
            format!("{acs3} {rpc} {oss4} {oss1}")
        }
        ("requests", []) => emu.requests().len().to_string(),
        ("issued", [kind]) => {
            let by = match *kind {
                "sts" => IssuedBy::AssumeRole,
                "oidc" => IssuedBy::AssumeRoleWithOidc,
                "ecs" => IssuedBy::EcsMetadata,
                "uri" => IssuedBy::CredentialsUri,
                other => return Err(format!("no credentials service {other:?}")),
            };
            emu.issued_credentials(by).to_string()
        }
        ("uploads", []) => emu.oss_uploads_in_progress().to_string(),
        ("object", [bucket, key]) => match emu.oss_object(bucket, key) {
            Some(o) => format!("{} {} {}", o.size, o.crc64, o.content_type),
            None => "none".into(),
        },
        // `type|name=value;...|tag count|class|disposition|cache control`
        // (arguments are split at spaces: values here have none past the first).
        ("meta", [bucket, key]) => match emu.oss_object(bucket, key) {
            Some(o) => {
                let user: Vec<String> = o
                    .meta
                    .user
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!(
                    "{}|{}|{}|{}|{}|{}",
                    o.content_type,
                    user.join(";"),
                    o.meta.tags.len(),
                    o.meta.storage_class,
                    o.meta.content_disposition.unwrap_or_default(),
                    o.meta.cache_control.unwrap_or_default()
                )
            }
            None => "none".into(),
        },
        ("parts", [key, n]) => {
            count(&|r| r.method == "PUT" && for_key(r, key) && r.param("partNumber") == Some(n))
        }
        ("initiates", [key]) => {
            count(&|r| r.method == "POST" && r.raw_query == "uploads" && for_key(r, key))
        }
        ("puts", [key]) => {
            count(&|r| r.method == "PUT" && r.param("partNumber").is_none() && for_key(r, key))
        }
        _ => return Err("unknown command or wrong arguments".into()),
    })
}

/// How to run a compiled program.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runner {
    Direct,
    Valgrind,
    /// A sanitized binary; `detect_leaks` says whether LeakSanitizer can run here.
    Sanitizer {
        detect_leaks: bool,
    },
}

fn command_for(bin: &Path, runner: Runner, dir: &Path, label: &str) -> Command {
    match runner {
        Runner::Direct => Command::new(bin),
        Runner::Valgrind => {
            let mut cmd = Command::new("valgrind");
            cmd.args([
                "--tool=memcheck",
                "--error-exitcode=99",
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect",
                "--num-callers=30",
            ])
            .arg(format!(
                "--log-file={}",
                dir.join(format!("{label}.valgrind")).display()
            ))
            .arg(bin);
            cmd
        }
        Runner::Sanitizer { .. } => Command::new(bin),
    }
}

fn sanitizer_env(cmd: &mut Command, detect_leaks: bool) {
    cmd.env(
        "ASAN_OPTIONS",
        format!(
            "detect_leaks={}:abort_on_error=0:exitcode=98:strict_string_checks=1:detect_stack_use_after_return=1",
            u8::from(detect_leaks)
        ),
    )
    .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=97");
}

/// Runs one C test program against a fresh emulator and checks that it
/// passed, that the emulator saw exactly the requests it reported, and what
/// those requests carried.
fn run_c_test(name: &str, bin: &Path, runner: Runner, dir: &Path, odd: &OddServers) {
    let emu = Arc::new(Emulator::start().expect("start the emulator"));
    let skewed = Arc::new(
        Emulator::builder()
            .clock_skew_secs(SKEW_SECS)
            .start()
            .expect("start the skewed emulator"),
    );
    // A bucket made since 2025: V4 in one region only, V1 refused.
    let v4 = Arc::new(
        Emulator::builder()
            .oss_region(V4_REGION)
            .oss_refuse_v1()
            .start()
            .expect("start the V4 emulator"),
    );
    let control = Control::start(vec![
        ("main", Arc::clone(&emu)),
        ("skewed", Arc::clone(&skewed)),
        ("v4", Arc::clone(&v4)),
    ]);
    let label = format!("{name}-{runner:?}").replace([' ', '{', '}', ':'], "");
    let mut cmd = command_for(bin, runner, dir, &label);
    test_env(&mut cmd, &emu, odd, dir);
    cmd.env("ENS_TEST_CONTROL", &control.addr)
        .env("ENS_TEST_SKEWED_ENDPOINT", skewed.endpoint())
        .env("ENS_TEST_SKEW_SECS", SKEW_SECS.to_string())
        .env("ENS_TEST_V4_ENDPOINT", v4.endpoint())
        .env("ENS_TEST_V4_REGION", V4_REGION)
        // Time bounds in the programs are multiplied by this: valgrind runs
        // the client many times slower, the sanitizers a little.
        .env(
            "ENS_TEST_SLOWDOWN",
            match runner {
                Runner::Direct => "1",
                Runner::Valgrind => "8",
                Runner::Sanitizer { .. } => "2",
            },
        );
    if let Runner::Sanitizer { detect_leaks } = runner {
        sanitizer_env(&mut cmd, detect_leaks);
    }
    let limit = match runner {
        Runner::Valgrind => Duration::from_secs(300),
        _ => Duration::from_secs(120),
    };
    let started = Instant::now();
    let ran = run(cmd, dir, &label, limit);
    let valgrind_log =
        std::fs::read_to_string(dir.join(format!("{label}.valgrind"))).unwrap_or_default();
    assert!(
        ran.status.success(),
        "{name} ({runner:?}) failed\n{}\n--- valgrind ---\n{valgrind_log}",
        ran.describe()
    );
    let summary = ran
        .stdout
        .lines()
        .find(|l| l.contains("checks passed"))
        .unwrap_or_else(|| panic!("{name} printed no summary\n{}", ran.describe()));
    eprintln!(
        "  {summary} [{runner:?}, {:.1} s]",
        started.elapsed().as_secs_f64()
    );
    if runner == Runner::Valgrind {
        check_valgrind_log(name, &valgrind_log);
    }
    let want: usize = ran
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("EMULATOR_REQUESTS="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{name} did not report EMULATOR_REQUESTS\n{}",
                ran.describe()
            )
        });
    drop(control);
    let seen = emu.requests();
    assert_eq!(
        seen.len(),
        want,
        "{name}: the emulator saw {} requests, the program made {want}",
        seen.len()
    );
    check_requests(name, &seen, &ran.stdout);
    check_skewed(name, &skewed.requests(), &ran.stdout);
}

/// What the emulator running hours ahead saw: only test_faults calls it.
/// Each new client's first call is refused for its timestamp, then
/// corrected; after that the learned offset keeps every call on time.
fn check_skewed(name: &str, seen: &[RecordedRequest], stdout: &str) {
    let reported = |key: &str| -> usize {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        seen.len(),
        reported("SKEWED_REQUESTS="),
        "{name}: requests to the skewed emulator"
    );
    let refused = seen
        .iter()
        .filter(|r| r.code.as_deref() == Some("InvalidTimeStamp.Expired"))
        .count();
    assert_eq!(
        refused,
        reported("SKEWED_REFUSALS="),
        "{name}: refusals for the timestamp"
    );
    if let Some(first) = seen.first() {
        assert_eq!(
            first.code.as_deref(),
            Some("InvalidTimeStamp.Expired"),
            "{name}: the first call to the skewed emulator"
        );
    }
    assert!(
        seen.iter()
            .all(|r| r.code.as_deref() != Some("RequestTimeTooSkewed")),
        "{name}: OSS refused a Date"
    );
}

/// valgrind's own summary: no errors, nothing definitely or indirectly lost.
fn check_valgrind_log(name: &str, log: &str) {
    assert!(
        log.contains("ERROR SUMMARY: 0 errors"),
        "{name}: valgrind reported errors:\n{log}"
    );
    for kind in ["definitely lost", "indirectly lost"] {
        if let Some(line) = log.lines().find(|l| l.contains(kind)) {
            assert!(
                line.contains(&format!("{kind}: 0 bytes")),
                "{name}: valgrind: {line}\n{log}"
            );
        }
    }
}

/// What the emulator must have seen, program by program.
fn check_requests(name: &str, seen: &[RecordedRequest], stdout: &str) {
    let params = |key: &str| -> BTreeSet<String> {
        seen.iter()
            .filter_map(|r| r.param(key).map(str::to_owned))
            .collect()
    };
    // OSS requests (any path but `/`) come from the upload tests only.
    let uploads = matches!(
        name,
        "test_upload" | "test_faults" | "test_log" | "test_buffer_stream" | "test_metadata"
    );
    for r in seen.iter().filter(|r| !uploads || r.path == "/") {
        assert_eq!(r.method, "POST", "{name}");
        assert_eq!(r.path, "/", "{name}");
        assert_eq!(r.param("Version"), Some("2017-11-10"), "{name}");
    }
    match name {
        "test_success" => {
            assert!(stdout.contains(&format!("ens_version={}", env!("CARGO_PKG_VERSION"))));
            let ips = params("ClientIp");
            for ip in ["180.166.1.2", "2001:db8::1", "10.1.2.3"] {
                assert!(ips.contains(ip), "{name}: ClientIp {ip} not sent: {ips:?}");
            }
            assert!(
                seen.iter().all(|r| r.status == 200),
                "{name}: a call failed"
            );
            // STS calls carry the token; AccessKey calls do not.
            let sts: Vec<_> = seen
                .iter()
                .filter(|r| r.param("AccessKeyId") == Some(emulator::TEST_STS_ACCESS_KEY_ID))
                .collect();
            assert_eq!(
                sts.len(),
                3,
                "{name}: STS calls (builder, environment, default chain)"
            );
            for r in &sts {
                assert_eq!(
                    r.param("SecurityToken"),
                    Some(emulator::TEST_SECURITY_TOKEN)
                );
            }
            assert!(seen
                .iter()
                .filter(|r| r.param("AccessKeyId") == Some(emulator::TEST_ACCESS_KEY_ID))
                .all(|r| r.param("SecurityToken").is_none()));
            // The later EnsRegionId replaced the earlier one; values go as given.
            assert_eq!(
                params("EnsRegionId"),
                BTreeSet::from(["cn-hangzhou-telecom".to_owned()])
            );
            assert_eq!(
                params("ObjectKey"),
                BTreeSet::from(["video/2024/clip 1.mp4".to_owned()])
            );
            assert!(seen
                .iter()
                .all(|r| r.param("Action") == Some("PrepareUpload")));
            assert!(seen.iter().all(|r| r.param("BucketName") == Some("test")));
        }
        "test_errors" => {
            let codes: BTreeSet<String> = seen.iter().filter_map(|r| r.code.clone()).collect();
            for code in [
                "NoSuchBucket",
                "InvalidBucketName",
                "InvalidAction.NotFound",
                "AccessDenied",
                "UserDisable",
                "NoPermission",
                "SignatureDoesNotMatch",
                "InvalidAccessKeyId.NotFound",
                "InvalidSecurityToken.Mismatch",
                "InvalidSecurityToken.Missing",
            ] {
                assert!(
                    codes.contains(code),
                    "{name}: the emulator never answered {code}: {codes:?}"
                );
            }
            assert!(
                seen.iter().all(|r| r.status != 200),
                "{name}: a call succeeded"
            );
        }
        "test_threads" => {
            let ips = params("ClientIp");
            let mut want = BTreeSet::new();
            for t in 0..8 {
                for round in (0..12).filter(|r| r % 3 != 2) {
                    want.insert(format!("10.0.{t}.{}", round + 1));
                }
            }
            assert_eq!(
                ips, want,
                "{name}: every thread's calls arrive with its own ClientIp"
            );
        }
        "test_upload" => check_upload_requests(name, seen),
        "test_buffer_stream" => {
            // The traffic limit went, signed, with every part of its upload.
            let limited: Vec<_> = seen
                .iter()
                .filter(|r| r.path.ends_with("/bw/traffic.bin") && r.method == "PUT")
                .collect();
            assert_eq!(limited.len(), 6, "{name}: the parts of bw/traffic.bin");
            for r in limited {
                assert_eq!(r.header("x-oss-traffic-limit"), Some("819200"), "{name}");
                assert_eq!(r.status, 200, "{name}");
            }
            // No other request carried one.
            assert_eq!(
                seen.iter()
                    .filter(|r| r.header("x-oss-traffic-limit").is_some())
                    .count(),
                6,
                "{name}"
            );
        }
        "test_metadata" => check_metadata_requests(name, seen),
        "test_faults" => {
            // Every attempt was signed anew: no nonce twice.
            let nonces: Vec<&str> = seen
                .iter()
                .filter_map(|r| r.param("SignatureNonce"))
                .collect();
            let distinct: BTreeSet<&str> = nonces.iter().copied().collect();
            assert_eq!(nonces.len(), distinct.len(), "{name}: a nonce was reused");
            let played: BTreeSet<String> = seen
                .iter()
                .filter_map(|r| r.fault.as_ref().map(|f| format!("{f:?}")))
                .map(|f| {
                    f.split(['(', ' ', '{'])
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            for fault in [
                "ConnectionReset",
                "Slow",
                "NonJson",
                "BadGatewayHtml",
                "InternalError",
                "Throttling",
                "OssInternalError",
                "OssResetAfterBytes",
                "OssSlow",
            ] {
                assert!(
                    played.contains(fault),
                    "{name}: the fault {fault} was never played: {played:?}"
                );
            }
        }
        _ => {}
    }
}

/// test_metadata: PutObject and InitiateMultipartUpload carried the
/// metadata (signed V1: the `x-oss-*` ones are in the string to sign, which
/// the emulator checked), parts and completes did not, and the overwrite
/// was refused once with 409.
fn check_metadata_requests(name: &str, seen: &[RecordedRequest]) {
    let creates: Vec<&RecordedRequest> = seen
        .iter()
        .filter(|r| r.path.contains("/meta/") && r.header("x-oss-meta-device-id").is_some())
        .collect();
    let kinds: Vec<(&str, &str)> = creates
        .iter()
        .map(|r| (r.method.as_str(), r.raw_query.as_str()))
        .collect();
    assert_eq!(kinds, [("PUT", ""), ("POST", "uploads")], "{name}");
    for r in &creates {
        assert_eq!(r.header("x-oss-meta-firmware"), Some("1.2.3"), "{name}");
        assert_eq!(
            r.header("x-oss-tagging"),
            Some("site=north%20gate&kind=clip%2Fmotion"),
            "{name}"
        );
        assert_eq!(r.header("x-oss-storage-class"), Some("IA"), "{name}");
        assert_eq!(r.header("cache-control"), Some("max-age=3600"), "{name}");
    }
    let refused: Vec<&RecordedRequest> = seen.iter().filter(|r| r.status == 409).collect();
    assert_eq!(refused.len(), 1, "{name}: the 409 was retried or missing");
    assert_eq!(refused[0].code.as_deref(), Some("FileAlreadyExists"));
    assert_eq!(refused[0].header("x-oss-forbid-overwrite"), Some("true"));
}

/// test_upload: the OSS side saw every kind of request, STS uploads carried
/// the token on every OSS request, and AccessKey uploads none.
fn check_upload_requests(name: &str, seen: &[RecordedRequest]) {
    let oss: Vec<&RecordedRequest> = seen.iter().filter(|r| r.path != "/").collect();
    let kinds = |pred: &dyn Fn(&RecordedRequest) -> bool| oss.iter().filter(|r| pred(r)).count();
    assert!(kinds(&|r| r.method == "PUT" && r.param("partNumber").is_none()) > 0);
    assert!(kinds(&|r| r.method == "PUT" && r.param("partNumber").is_some()) >= 10);
    assert!(kinds(&|r| r.method == "POST" && r.raw_query == "uploads") >= 2);
    assert!(
        kinds(&|r| r.method == "DELETE") >= 1,
        "{name}: no upload was aborted"
    );
    let sts_auth = format!("OSS {}:", emulator::TEST_STS_ACCESS_KEY_ID);
    let mut sts = 0;
    for r in &oss {
        let auth = r.header("authorization").unwrap_or_default();
        if auth.starts_with(&sts_auth) {
            sts += 1;
            assert_eq!(
                r.header("x-oss-security-token"),
                Some(emulator::TEST_SECURITY_TOKEN),
                "{name}: an STS request without its token"
            );
        } else {
            assert!(r.header("x-oss-security-token").is_none(), "{name}");
        }
    }
    assert!(sts >= 2, "{name}: the STS uploads reached OSS {sts} times");
    for r in seen.iter().filter(|r| r.path == "/") {
        let is_sts = r.param("AccessKeyId") == Some(emulator::TEST_STS_ACCESS_KEY_ID);
        assert_eq!(
            r.param("SecurityToken").is_some(),
            is_sts,
            "{name}: SecurityToken on an RPC call"
        );
    }
    // A content type set through the options arrived.
    assert!(
        oss.iter()
            .any(|r| r.header("content-type") == Some("video/mp4")),
        "{name}: no upload carried the content type set"
    );
}

/// Runs the two builds of tests/c/test_header.c (C99 pedantic and C++).
fn run_header_test(dir: &Path, build: Build, runner: Runner) {
    let src = root().join("tests/c/test_header.c");
    let mut bins = vec![(
        "test_header_c",
        compile(&src, &dir.join("test_header_c"), build, false),
    )];
    if require(
        &cxx(),
        Command::new(cxx()).arg("--version"),
        "the C++ header test (extern \"C\" guards)",
    ) {
        bins.push((
            "test_header_cpp",
            compile(&src, &dir.join("test_header_cpp"), build, true),
        ));
    }
    for (label, bin) in bins {
        let full_label = format!("{label}-{build:?}");
        let mut cmd = command_for(&bin, runner, dir, &full_label);
        if let Runner::Sanitizer { detect_leaks } = runner {
            sanitizer_env(&mut cmd, detect_leaks);
        }
        let ran = run(cmd, dir, &full_label, Duration::from_secs(120));
        assert!(ran.status.success(), "{label} failed\n{}", ran.describe());
        assert!(ran.stdout.contains(": ok"), "{label}\n{}", ran.describe());
        if runner == Runner::Valgrind {
            let log = std::fs::read_to_string(dir.join(format!("{full_label}.valgrind")))
                .unwrap_or_default();
            check_valgrind_log(label, &log);
        }
    }
}

/// Compiles and runs every C test program with one build and runner.
///
/// `ENS_C_TESTS=test_upload,test_faults` runs only those programs (and not
/// the header test or the example): for working on one of them.
fn run_suite(variant: &str, build: Build, runner: Runner) {
    let dir = scratch(variant);
    let odd = OddServers::start();
    eprintln!("C API tests, {variant}:");
    let only = std::env::var("ENS_C_TESTS").ok().filter(|v| !v.is_empty());
    if let Some(only) = &only {
        eprintln!("  only {only} (ENS_C_TESTS)");
        for name in only.split(',') {
            assert!(C_TESTS.contains(&name), "ENS_C_TESTS: no C test {name:?}");
        }
    } else {
        run_header_test(&dir, build, runner);
    }
    for name in C_TESTS {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == *name))
        {
            continue;
        }
        let bin = compile(
            &root().join("tests/c").join(format!("{name}.c")),
            &dir.join(name),
            build,
            false,
        );
        run_c_test(name, &bin, runner, &dir, &odd);
    }
    if only.is_some() {
        return;
    }
    let setup = |cmd: &mut Command| {
        if let Runner::Sanitizer { detect_leaks } = runner {
            sanitizer_env(cmd, detect_leaks);
        }
    };
    let example = compile(
        &root().join("examples/c/prepare_upload.c"),
        &dir.join("prepare_upload"),
        build,
        false,
    );
    check_example(&example, &dir, setup, runner);
    let upload = compile(
        &root().join("examples/c/upload.c"),
        &dir.join("upload"),
        build,
        false,
    );
    check_upload_example(&upload, &dir, setup, runner);
}

/// Runs the upload example: a file in three parts, the error path for a
/// missing file, and a usage error.
fn check_upload_example(bin: &Path, dir: &Path, setup: impl Fn(&mut Command), runner: Runner) {
    let emu = Emulator::start().expect("start the emulator");
    let file = dir.join("example-upload.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(&file, &data).expect("write the file to upload");
    let example = |args: &[&OsStr], label: &str| {
        let mut cmd = command_for(bin, runner, dir, label);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("ENS_ENDPOINT", emu.endpoint())
            .env("ENS_UPLOAD_PART_SIZE", "102400")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", emulator::TEST_ACCESS_KEY_ID)
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                emulator::TEST_ACCESS_KEY_SECRET,
            );
        setup(&mut cmd);
        let ran = run(cmd, dir, label, Duration::from_secs(120));
        if runner == Runner::Valgrind {
            let log =
                std::fs::read_to_string(dir.join(format!("{label}.valgrind"))).unwrap_or_default();
            check_valgrind_log(label, &log);
        }
        ran
    };
    let ckpt = dir.join("example-upload.ckpt");
    let ok = example(
        &[
            OsStr::new("test"),
            file.as_os_str(),
            OsStr::new("clips/example.bin"),
            ckpt.as_os_str(),
        ],
        "upload-example-ok",
    );
    assert!(
        ok.status.success(),
        "upload example failed\n{}",
        ok.describe()
    );
    let crc = format!("{:016x}", ens_upload::crc64::checksum(&data));
    for part in [
        "bucket:        test-",
        "key:           clips/example.bin",
        "size:          300000",
        "parts:         3 (0 resumed)",
        &format!("crc64:         {crc}"),
    ] {
        assert!(
            ok.stdout.contains(part),
            "upload example output lacks {part:?}\n{}",
            ok.describe()
        );
    }
    assert!(ok.stderr.contains("upload: 100%"), "{}", ok.describe());
    assert!(!ckpt.exists(), "the checkpoint is removed on success");
    let bucket = emu.oss_bucket_for("test");
    assert_eq!(
        emu.oss_object_bytes(&bucket, "clips/example.bin")
            .as_deref(),
        Some(data.as_slice())
    );

    let missing = dir.join("no-such-file.bin");
    let bad = example(
        &[OsStr::new("test"), missing.as_os_str(), OsStr::new("k")],
        "upload-example-error",
    );
    assert_eq!(bad.status.code(), Some(1), "{}", bad.describe());
    for part in ["upload failed: ENS_ERR_LOCAL_IO", "file:", "NotFound"] {
        assert!(bad.stderr.contains(part), "{part:?}\n{}", bad.describe());
    }
    let usage = example(&[OsStr::new("test")], "upload-example-usage");
    assert_eq!(usage.status.code(), Some(2), "{}", usage.describe());
    assert!(usage.stderr.contains("usage:"), "{}", usage.describe());
}

/// Runs the example: success, the error path, and a usage error.
fn check_example(bin: &Path, dir: &Path, setup: impl Fn(&mut Command), runner: Runner) {
    let emu = Emulator::start().expect("start the emulator");
    let example = |args: &[&str], label: &str| {
        let mut cmd = command_for(bin, runner, dir, label);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("ENS_ENDPOINT", emu.endpoint())
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", emulator::TEST_ACCESS_KEY_ID)
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                emulator::TEST_ACCESS_KEY_SECRET,
            );
        setup(&mut cmd);
        let ran = run(cmd, dir, label, Duration::from_secs(120));
        if runner == Runner::Valgrind {
            let log =
                std::fs::read_to_string(dir.join(format!("{label}.valgrind"))).unwrap_or_default();
            check_valgrind_log(label, &log);
        }
        ran
    };
    let ok = example(&["test", "180.166.1.2"], "example-ok");
    assert!(ok.status.success(), "example failed\n{}", ok.describe());
    assert!(ok.stdout.contains("bucket:     test-"), "{}", ok.describe());
    let host = emu.endpoint().trim_start_matches("http://").to_owned();
    assert!(
        ok.stdout.contains(&format!("endpoint:   {host}")),
        "{}",
        ok.describe()
    );
    assert!(ok.stdout.contains("request id: "), "{}", ok.describe());

    let bad = example(&["nosuchbucket"], "example-error");
    assert_eq!(bad.status.code(), Some(1), "{}", bad.describe());
    for part in [
        "PrepareUpload failed: ENS_ERR_API",
        "code:       NoSuchBucket",
        "http:       404",
        "request id: ",
    ] {
        assert!(
            bad.stderr.contains(part),
            "example error output lacks {part:?}\n{}",
            bad.describe()
        );
    }
    let usage = example(&[], "example-usage");
    assert_eq!(usage.status.code(), Some(2), "{}", usage.describe());
    assert!(usage.stderr.contains("usage:"), "{}", usage.describe());

    let sent = emu.requests();
    assert_eq!(sent.len(), 2, "the example sends one request per call");
    assert_eq!(sent[0].param("ClientIp"), Some("180.166.1.2"));
}

#[test]
fn c_tests_plain() {
    if !have_cc() {
        return;
    }
    run_suite("plain", Build::Plain, Runner::Direct);
}

#[test]
fn c_tests_under_valgrind() {
    if !have_cc()
        || !require(
            "valgrind",
            Command::new("valgrind").arg("--version"),
            "the valgrind memcheck run of the C API tests",
        )
    {
        return;
    }
    run_suite("valgrind", Build::Plain, Runner::Valgrind);
}

/// Whether LeakSanitizer works here: it stops the world with ptrace, which
/// some sandboxes forbid. A leak-free program tells.
fn leak_sanitizer_works(dir: &Path) -> bool {
    let src = dir.join("lsan_probe.c");
    std::fs::write(
        &src,
        "#include <stdlib.h>\nint main(void) { free(malloc(16)); return 0; }\n",
    )
    .expect("write probe");
    let bin = dir.join("lsan_probe");
    let built = Command::new(cc())
        .args(["-fsanitize=address", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("compile the LeakSanitizer probe");
    assert!(
        built.status.success(),
        "{} cannot build with -fsanitize=address (is libasan installed?):\n{}",
        cc(),
        String::from_utf8_lossy(&built.stderr)
    );
    let ran = Command::new(&bin)
        .env("ASAN_OPTIONS", "detect_leaks=1")
        .output()
        .expect("run the LeakSanitizer probe");
    if ran.status.success() {
        return true;
    }
    eprintln!(
        "\n!!! LeakSanitizer does not work here (ptrace is likely restricted):\n{}\
         !!! The ASan/UBSan run goes on with ASAN_OPTIONS=detect_leaks=0; leaks are still\n\
         !!! checked by the valgrind run.\n",
        String::from_utf8_lossy(&ran.stderr)
    );
    false
}

#[test]
fn c_tests_with_address_and_undefined_sanitizers() {
    if !have_cc() {
        return;
    }
    let dir = scratch("sanitizers-probe");
    let detect_leaks = leak_sanitizer_works(&dir);
    run_suite(
        "sanitizers",
        Build::Sanitized,
        Runner::Sanitizer { detect_leaks },
    );
}

/// The example's Makefile and CMakeLists.txt, run as a user runs them with
/// `CARGO_TARGET_DIR` set: each asks cargo where its target directory is,
/// has cargo build the library there (fresh: `staticlib()` built it with the
/// same command), and the programs work. Pointed at a directory without the
/// library, each fails saying what to set.
#[test]
fn c_example_builds_with_make_and_cmake() {
    if !have_cc() {
        return;
    }
    staticlib();
    let example_dir = root().join("examples/c");
    let empty = scratch("example-no-library");
    if require(
        "make",
        Command::new("make").arg("--version"),
        "the example Makefile test",
    ) {
        let out = scratch("example-make");
        let mut cmd = Command::new("make");
        cmd.arg("-C")
            .arg(&example_dir)
            .arg(format!("PROFILE={}", common::cargo_profile()))
            .arg(format!("BUILD_DIR={}", out.display()))
            .env("CARGO_TARGET_DIR", c_api_target_dir());
        common::without_cargo_test_env(&mut cmd);
        let ran = run(cmd, &out, "make", Duration::from_secs(600));
        assert!(ran.status.success(), "make failed\n{}", ran.describe());
        check_example(&out.join("prepare_upload"), &out, |_| {}, Runner::Direct);
        check_upload_example(&out.join("upload"), &out, |_| {}, Runner::Direct);

        let mut cmd = Command::new("make");
        cmd.arg("-C")
            .arg(&example_dir)
            .arg(format!("LIBDIR={}", empty.display()))
            .arg(format!("BUILD_DIR={}", out.display()));
        let ran = run(cmd, &out, "make-no-library", Duration::from_secs(60));
        assert!(!ran.status.success(), "{}", ran.describe());
        assert!(
            ran.stderr.contains("libens_upload.a not found") && ran.stderr.contains("set LIBDIR"),
            "make does not say what to set\n{}",
            ran.describe()
        );
    }
    if require(
        "cmake",
        Command::new("cmake").arg("--version"),
        "the example CMakeLists.txt test",
    ) {
        let out = scratch("example-cmake");
        let mut configure = Command::new("cmake");
        configure
            .arg("-S")
            .arg(&example_dir)
            .arg("-B")
            .arg(&out)
            .arg(format!("-DENS_UPLOAD_PROFILE={}", common::cargo_profile()))
            .env("CARGO_TARGET_DIR", c_api_target_dir());
        common::without_cargo_test_env(&mut configure);
        let ran = run(configure, &out, "cmake-configure", Duration::from_secs(120));
        assert!(
            ran.status.success(),
            "cmake configure failed\n{}",
            ran.describe()
        );
        // The build runs cargo in the target directory found at configure
        // time, whatever this environment says.
        let mut build = Command::new("cmake");
        build
            .arg("--build")
            .arg(&out)
            .env_remove("CARGO_TARGET_DIR");
        common::without_cargo_test_env(&mut build);
        let ran = run(build, &out, "cmake-build", Duration::from_secs(600));
        assert!(
            ran.status.success(),
            "cmake build failed\n{}",
            ran.describe()
        );
        check_example(&out.join("prepare_upload"), &out, |_| {}, Runner::Direct);
        check_upload_example(&out.join("upload"), &out, |_| {}, Runner::Direct);

        let bad = scratch("example-cmake-no-library");
        let mut configure = Command::new("cmake");
        configure
            .arg("-S")
            .arg(&example_dir)
            .arg("-B")
            .arg(&bad)
            .arg(format!("-DENS_UPLOAD_LIB_DIR={}", empty.display()));
        let ran = run(
            configure,
            &bad,
            "cmake-no-library",
            Duration::from_secs(120),
        );
        assert!(!ran.status.success(), "{}", ran.describe());
        // CMake wraps its messages: compare the words.
        let said = ran.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            said.contains("libens_upload.a not found") && said.contains("ENS_UPLOAD_LIB_DIR"),
            "cmake does not say what to set\n{}",
            ran.describe()
        );
    }
}

fn header() -> String {
    std::fs::read_to_string(root().join("include/ens_upload.h")).expect("read include/ens_upload.h")
}

fn header_define(header: &str, name: &str) -> String {
    header
        .lines()
        .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
        .unwrap_or_else(|| panic!("the header lacks #define {name}"))
        .trim()
        .to_owned()
}

#[test]
fn header_version_macros_match_cargo_toml() {
    let h = header();
    assert_eq!(
        header_define(&h, "ENS_UPLOAD_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        header_define(&h, "ENS_UPLOAD_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        header_define(&h, "ENS_UPLOAD_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    assert_eq!(
        header_define(&h, "ENS_UPLOAD_VERSION_STRING"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION"))
    );
}

/// The function declarations of the header, each with the doc comment just
/// above it.
fn header_functions(h: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = h.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // A declaration starts at column 0 with its return type and names
        // an `ens_` function right before its first parenthesis.
        let starts_decl = line.starts_with(|c: char| c.is_ascii_alphabetic())
            && !line.starts_with("typedef")
            && !line.starts_with("extern");
        let Some(paren) = line.find('(').filter(|_| starts_decl) else {
            continue;
        };
        let name = line[..paren]
            .rsplit([' ', '*'])
            .next()
            .unwrap_or_default()
            .to_owned();
        if !name.starts_with("ens_") {
            continue;
        }
        let mut doc = Vec::new();
        let mut j = i;
        if j > 0 && lines[j - 1].trim() == "*/" {
            while j > 0 {
                j -= 1;
                doc.push(lines[j]);
                if lines[j].starts_with("/**") {
                    break;
                }
            }
        }
        doc.reverse();
        out.push((name, doc.join("\n")));
    }
    out
}

#[test]
fn header_is_complete_and_every_function_documents_ownership_null_and_threads() {
    let h = header();
    assert!(
        h.contains("#ifndef ENS_UPLOAD_H\n#define ENS_UPLOAD_H"),
        "include guard"
    );
    assert!(
        h.contains("#ifdef __cplusplus\nextern \"C\" {"),
        "C++ guard"
    );
    // The upload's callback type, and the statuses appended after the
    // first ones without renumbering them.
    assert!(
        h.contains(
            "typedef int (*ens_progress_cb)(uint64_t done, uint64_t total, void *user_data);"
        ),
        "the progress callback type"
    );
    assert!(
        h.contains(
            "typedef void (*ens_log_cb)(void *user_data,\n                           enum ens_log_level level,\n                           const char *target,\n                           const char *message);"
        ),
        "the log callback type"
    );
    for (name, value) in [
        ("ENS_LOG_OFF", 0),
        ("ENS_LOG_ERROR", 1),
        ("ENS_LOG_TRACE", 5),
    ] {
        assert!(
            h.contains(&format!("    {name} = {value},")),
            "{name} is not {value}"
        );
    }
    for (name, value) in [
        ("ENS_ERR_OTHER", 12),
        ("ENS_ERR_CANCELLED", 13),
        ("ENS_ERR_INTEGRITY", 14),
        ("ENS_ERR_LOCAL_IO", 15),
    ] {
        assert!(
            h.contains(&format!("    {name} = {value},")),
            "{name} is not {value}"
        );
    }
    let functions = header_functions(&h);

    // The header declares exactly the functions src/ffi/ exports: a stale
    // header fails here even without the cbindgen feature.
    let mut ffi = String::new();
    for entry in std::fs::read_dir(root().join("src/ffi")).expect("read src/ffi/") {
        let path = entry.expect("src/ffi/ entry").path();
        if path.extension() == Some(OsStr::new("rs")) {
            ffi += &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        }
    }
    let exported: BTreeSet<String> = ffi
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub unsafe extern \"C\" fn ")
                .or_else(|| l.trim().strip_prefix("pub extern \"C\" fn "))
        })
        .map(|rest| rest[..rest.find('(').expect("(")].to_owned())
        .collect();
    let declared: BTreeSet<String> = functions.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        declared, exported,
        "include/ens_upload.h is stale: run cargo build --features cbindgen"
    );
    for name in [
        "ens_client_builder_new",
        "ens_client_builder_set_endpoint",
        "ens_client_builder_set_access_key",
        "ens_client_builder_set_credentials_from_env",
        "ens_client_builder_set_timeout_ms",
        "ens_client_builder_set_ca_file",
        "ens_client_builder_set_proxy",
        "ens_client_builder_build",
        "ens_client_free",
        "ens_prepare_upload",
        "ens_prepare_upload_result_bucket_name",
        "ens_prepare_upload_result_endpoint",
        "ens_prepare_upload_result_request_id",
        "ens_prepare_upload_result_free",
        "ens_error_status",
        "ens_error_http_status",
        "ens_error_code",
        "ens_error_message",
        "ens_error_request_id",
        "ens_error_free",
        "ens_status_str",
        "ens_version",
        "ens_call",
        "ens_client_clock_offset",
        "ens_upload_file",
        "ens_upload_options_new",
        "ens_upload_options_free",
        "ens_upload_options_set_part_size",
        "ens_upload_options_set_multipart_threshold",
        "ens_upload_options_set_threads",
        "ens_upload_options_set_checkpoint",
        "ens_upload_options_set_path_style",
        "ens_upload_options_set_https",
        "ens_upload_options_set_content_type",
        "ens_upload_options_set_stall_timeout_ms",
        "ens_upload_result_bucket",
        "ens_upload_result_endpoint",
        "ens_upload_result_key",
        "ens_upload_result_url",
        "ens_upload_result_etag",
        "ens_upload_result_prepare_request_id",
        "ens_upload_result_request_id",
        "ens_upload_result_upload_id",
        "ens_upload_result_size",
        "ens_upload_result_crc64",
        "ens_upload_result_parts",
        "ens_upload_result_resumed_parts",
        "ens_upload_result_free",
        "ens_error_attempts",
        "ens_error_bytes_done",
        "ens_error_bytes_total",
        "ens_error_local_crc64",
        "ens_error_server_crc64",
        "ens_error_has_server_crc64",
        "ens_error_path",
        "ens_error_io_kind",
        "ens_set_log_callback",
    ] {
        assert!(
            declared.contains(name),
            "the issue's name {name} is missing"
        );
    }

    for (name, doc) in &functions {
        assert!(!doc.is_empty(), "{name} has no doc comment");
        assert!(
            doc.contains("NULL"),
            "{name}: the doc does not say what may be NULL:\n{doc}"
        );
        assert!(
            doc.contains("hread-safe")
                || doc.contains("thread at a time")
                || doc.contains("thread-safe"),
            "{name}: the doc does not say whether it is thread-safe:\n{doc}"
        );
        assert!(
            ["own", "free", "static", "copied", "borrowed", "consum"]
                .iter()
                .any(|w| doc.to_lowercase().contains(w)),
            "{name}: the doc does not say who owns what:\n{doc}"
        );
    }
}

/// `make install` puts the header, both libraries (the shared one under its
/// SONAME, with the usual symlinks), the pkg-config files and the CMake
/// package in place. The example then builds from the installed copy through
/// pkg-config and through CMake's `find_package`, linked dynamically (it
/// needs the library's SONAME at run time) and statically (it needs no
/// libens_upload at all). (It installs this test run's build with
/// NO_BUILD=1, so no release build runs inside the test.)
#[test]
fn make_install_and_pkg_config() {
    if !have_cc()
        || !require(
            "make",
            Command::new("make").arg("--version"),
            "the make install test",
        )
        || !require(
            "pkg-config",
            Command::new("pkg-config").arg("--version"),
            "the pkg-config test",
        )
    {
        return;
    }
    let build_dir = staticlib().parent().expect("profile dir").to_path_buf();
    let out = scratch("install");
    let prefix = out.join("prefix");
    let mut install = Command::new("make");
    install
        .arg("-C")
        .arg(root())
        .args(["install", "NO_BUILD=1"])
        .arg(format!("BUILD={}", build_dir.display()))
        .arg(format!("PREFIX={}", prefix.display()));
    let ran = run(install, &out, "make-install", Duration::from_secs(60));
    assert!(
        ran.status.success(),
        "make install failed\n{}",
        ran.describe()
    );
    let version = env!("CARGO_PKG_VERSION");
    let real = format!("libens_upload.so.{version}");
    let soname = soname();
    for file in [
        "include/ens_upload.h".to_owned(),
        "lib/libens_upload.a".to_owned(),
        format!("lib/{real}"),
        "lib/pkgconfig/ens_upload.pc".to_owned(),
        "lib/pkgconfig/ens_upload-shared.pc".to_owned(),
        "lib/cmake/ens_upload/ens_uploadConfig.cmake".to_owned(),
        "lib/cmake/ens_upload/ens_uploadConfigVersion.cmake".to_owned(),
    ] {
        assert!(
            prefix.join(&file).is_file(),
            "make install did not install {file}"
        );
    }
    let lib_dir = prefix.join("lib");
    for (link, to) in [
        (soname.as_str(), real.as_str()),
        ("libens_upload.so", &soname),
    ] {
        let target = std::fs::read_link(lib_dir.join(link))
            .unwrap_or_else(|e| panic!("lib/{link} is not a symlink: {e}"));
        assert_eq!(target, Path::new(to), "lib/{link}");
    }

    let pkg_config = |args: &[&str]| -> String {
        let o = Command::new("pkg-config")
            .args(args)
            .arg("ens_upload")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .output()
            .expect("run pkg-config");
        assert!(
            o.status.success(),
            "pkg-config {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    };
    assert_eq!(pkg_config(&["--modversion"]), version);
    let cflags = pkg_config(&["--cflags"]);
    assert_eq!(cflags, format!("-I{}", prefix.join("include").display()));
    let staticlib_path = pkg_config(&["--variable=staticlib"]);
    assert_eq!(Path::new(&staticlib_path), lib_dir.join("libens_upload.a"));
    let native = pkg_config(&["--variable=native_static_libs"]);
    assert_eq!(native, NATIVE_STATIC_LIBS.join(" "));
    let static_libs = pkg_config(&["--static", "--libs"]);
    assert!(
        static_libs.contains(&format!("{staticlib_path} {native}")),
        "{static_libs}"
    );

    let example = root().join("examples/c/prepare_upload.c");
    let split = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let link = |name: &str, libs: &str| -> PathBuf {
        let bin = out.join(name);
        let o = Command::new(cc())
            .args(split(&cflags))
            .arg("-o")
            .arg(&bin)
            .arg(&example)
            .args(split(libs))
            .output()
            .expect("cc");
        assert!(
            o.status.success(),
            "{name}: link with {libs} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        bin
    };
    // Dynamic: it runs with the library on the path, and without it the
    // loader asks for the SONAME.
    let dynamic = link("prepare_upload_dynamic", &pkg_config(&["--libs"]));
    check_example(
        &dynamic,
        &out,
        |cmd| {
            cmd.env("LD_LIBRARY_PATH", &lib_dir);
        },
        Runner::Direct,
    );
    let without = Command::new(&dynamic)
        .env_remove("LD_LIBRARY_PATH")
        .arg("test")
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&without.stderr).contains(&soname),
        "the dynamic build does not need {soname}? {}",
        String::from_utf8_lossy(&without.stderr)
    );
    // Static, through `pkg-config --static`: no libens_upload needed at run
    // time (the shared library is on no path here).
    let fully_static = link("prepare_upload_static", &static_libs);
    check_example(&fully_static, &out, |_| {}, Runner::Direct);
    // Static by hand: the .a by path, then the system libraries.
    let by_hand = link(
        "prepare_upload_static_by_hand",
        &format!("{staticlib_path} {native}"),
    );
    check_example(&by_hand, &out, |_| {}, Runner::Direct);

    if require(
        "cmake",
        Command::new("cmake").arg("--version"),
        "the CMake package test",
    ) {
        check_cmake_package(&prefix, &out, &example);
    }

    let mut uninstall = Command::new("make");
    uninstall
        .arg("-C")
        .arg(root())
        .arg("uninstall")
        .arg(format!("PREFIX={}", prefix.display()));
    let ran = run(uninstall, &out, "make-uninstall", Duration::from_secs(60));
    assert!(
        ran.status.success(),
        "make uninstall failed\n{}",
        ran.describe()
    );
    let left: Vec<_> = walk(&prefix).into_iter().filter(|p| !p.is_dir()).collect();
    assert!(left.is_empty(), "make uninstall left {left:?}");
}

/// Every path under `dir` (symlinks not followed).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// `find_package(ens_upload <version> REQUIRED)` from an installed prefix:
/// both imported targets link and run; a version of another 0.minor is
/// refused.
fn check_cmake_package(prefix: &Path, out: &Path, example: &Path) {
    let project = out.join("cmake-package");
    std::fs::create_dir_all(&project).expect("mkdir");
    let version = format!(
        "{}.{}",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    let lists = |version: &str| {
        format!(
            "cmake_minimum_required(VERSION 3.13)\n\
             project(uses_ens_upload LANGUAGES C)\n\
             find_package(ens_upload {version} REQUIRED)\n\
             add_executable(dynamic {example})\n\
             target_link_libraries(dynamic PRIVATE ens_upload::ens_upload)\n\
             add_executable(static {example})\n\
             target_link_libraries(static PRIVATE ens_upload::ens_upload_static)\n",
            example = example.display()
        )
    };
    let configure = |label: &str| {
        let build = out.join(label);
        let mut cmd = Command::new("cmake");
        cmd.arg("-S")
            .arg(&project)
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()));
        (run(cmd, out, label, Duration::from_secs(120)), build)
    };
    std::fs::write(project.join("CMakeLists.txt"), lists(&version)).expect("write");
    let (ran, build) = configure("cmake-package");
    assert!(
        ran.status.success(),
        "find_package failed\n{}",
        ran.describe()
    );
    let mut cmd = Command::new("cmake");
    cmd.arg("--build").arg(&build);
    let ran = run(cmd, out, "cmake-package-build", Duration::from_secs(120));
    assert!(ran.status.success(), "{}", ran.describe());
    // CMake gives the dynamic program an rpath to the installed library.
    check_example(&build.join("dynamic"), out, |_| {}, Runner::Direct);
    check_example(&build.join("static"), out, |_| {}, Runner::Direct);

    let other = if env!("CARGO_PKG_VERSION_MAJOR") == "0" {
        format!(
            "0.{}",
            env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap() + 1
        )
    } else {
        format!(
            "{}",
            env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap() + 1
        )
    };
    std::fs::write(project.join("CMakeLists.txt"), lists(&other)).expect("write");
    let (ran, _) = configure("cmake-package-other-version");
    assert!(
        !ran.status.success() && ran.stderr.contains("compatible with requested version"),
        "find_package accepted version {other}\n{}",
        ran.describe()
    );
}

/// Handed to `ens_set_log_callback` by the test below, which expects it
/// never to be called.
unsafe extern "C" fn never_called(
    _: *mut std::ffi::c_void,
    _: ens_upload::ffi::ens_log_level,
    _: *const std::ffi::c_char,
    _: *const std::ffi::c_char,
) {
    panic!("the log callback was called although it was refused");
}

/// A process whose program installed its own `log` logger first (only a
/// Rust program can, so this test is in Rust): `ens_set_log_callback` says
/// so with `ENS_ERR_CONFIG` instead of doing nothing, and the library's
/// messages keep going to that logger. (No C program in this test process
/// sets a callback: they run in processes of their own.)
#[test]
fn log_callback_refused_when_the_process_has_another_logger() {
    use ens_upload::ffi::{
        ens_error, ens_error_free, ens_error_message, ens_set_log_callback, ens_status,
    };
    use std::sync::atomic::AtomicUsize;

    struct Host(AtomicUsize);
    impl log::Log for Host {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            if record
                .args()
                .to_string()
                .contains("ens_set_log_callback returned")
            {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn flush(&self) {}
    }
    static HOST: Host = Host(AtomicUsize::new(0));
    log::set_logger(&HOST).expect("no logger yet in this test process");
    log::set_max_level(log::LevelFilter::Debug);

    let mut err: *mut ens_error = std::ptr::null_mut();
    // SAFETY: the callback is a valid function (never called), `err` is writable.
    let status =
        unsafe { ens_set_log_callback(Some(never_called), std::ptr::null_mut(), 4, &mut err) };
    assert_eq!(status, ens_status::ENS_ERR_CONFIG);
    assert!(!err.is_null());
    // SAFETY: `err` is a live error, freed once.
    let message = unsafe {
        let m = std::ffi::CStr::from_ptr(ens_error_message(err))
            .to_string_lossy()
            .into_owned();
        ens_error_free(err);
        m
    };
    assert!(
        message.contains("ens_set_log_callback")
            && message.contains("already has a logger")
            && message.contains("go to that logger"),
        "{message}"
    );
    // The refusal itself reached the host's logger.
    assert_eq!(HOST.0.load(Ordering::SeqCst), 1);
    // Turning logging off never takes the logger, so it succeeds.
    // SAFETY: a NULL callback and a NULL `err` are allowed.
    let status =
        unsafe { ens_set_log_callback(None, std::ptr::null_mut(), 0, std::ptr::null_mut()) };
    assert_eq!(status, ens_status::ENS_OK);
    assert_eq!(
        log::max_level(),
        log::LevelFilter::Debug,
        "the host's level is left alone"
    );
}

/// The crate is an rlib only: a Rust program that depends on it builds no
/// C library (cargo builds every crate type a dependency declares). The C
/// libraries are built on purpose, by the Makefile or `cargo rustc`.
#[test]
fn rust_dependents_build_no_c_library() {
    const LIB_KINDS: &[&str] = &["lib", "rlib", "dylib", "staticlib", "cdylib"];
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let lib = metadata["packages"][0]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| {
            t["kind"].as_array().is_some_and(|k| {
                k.iter()
                    .any(|k| LIB_KINDS.contains(&k.as_str().unwrap_or("")))
            })
        })
        .expect("a lib target");
    let types: Vec<&str> = lib["crate_types"]
        .as_array()
        .expect("crate_types")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(
        types.iter().all(|t| *t == "rlib" || *t == "lib"),
        "the lib target declares {types:?}: a Rust dependent would build those too"
    );
}
