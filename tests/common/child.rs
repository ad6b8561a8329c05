//! Child processes the tests start: programs under test (killed when they
//! overrun), and the nested `cargo build` that makes the artifacts some
//! tests run but `cargo test` does not build.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a finished program left.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Exit status and both outputs, for an assertion message.
    pub fn describe(&self) -> String {
        format!(
            "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with stdin closed and its output in `<log_dir>/<label>.stdout`
/// and `.stderr`, killing it and failing the test after `limit`.
///
/// Files rather than pipes: a grandchild that keeps a pipe open cannot
/// block the test, and what a failed run printed stays there to read.
pub fn run(mut cmd: Command, log_dir: &Path, label: &str, limit: Duration) -> Ran {
    let out_path = log_dir.join(format!("{label}.stdout"));
    let err_path = log_dir.join(format!("{label}.stderr"));
    let create = |p: &Path| {
        std::fs::File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()))
    };
    cmd.stdin(Stdio::null())
        .stdout(create(&out_path))
        .stderr(create(&err_path));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the child") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{label} ran longer than {limit:?} and was killed; stdout so far:\n{}\nstderr:\n{}",
                read(&out_path),
                read(&err_path)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// `<target>/<profile>`, where cargo put this test binary
/// (`<target>/<profile>/deps/<test>-<hash>`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Runs `cargo build <args>` on this package, with the cargo and the
/// profile that built this test, into `target_dir` (a no-op when it is up
/// to date).
///
/// Quiet: cargo's output is kept and shown only when the build fails, so
/// it never mixes with the tests' own. The environment cargo gives this
/// test process is not passed on: a build script watching
/// `CARGO_MANIFEST_DIR` and the like would see a change and rebuild half
/// the tree on each run, for both this build and the outer one.
pub fn cargo_build(args: &[&str], target_dir: &Path) {
    cargo("build", args, &[], target_dir);
}

/// Runs `cargo rustc <args> -- <rustc_args>` as [`cargo_build`] runs
/// `cargo build`: how the C libraries are built (the crate itself is an
/// rlib only; see the Makefile's `staticlib` and `sharedlib`).
pub fn cargo_rustc(args: &[&str], rustc_args: &[&str], target_dir: &Path) {
    cargo("rustc", args, rustc_args, target_dir);
}

/// The cargo profile that built this test, as `--profile` names it (`dev`
/// for the debug build), e.g. for the Makefile's `PROFILE`.
pub fn cargo_profile() -> String {
    match profile_dir().file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    }
}

/// Leaves out of `cmd`'s environment what cargo set for this test process
/// only (see [`cargo_build`]), for a command that runs cargo itself.
pub fn without_cargo_test_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if set_by_cargo_for_the_test(&name.to_string_lossy()) {
            cmd.env_remove(&name);
        }
    }
    cmd
}

fn cargo(subcommand: &str, args: &[&str], rustc_args: &[&str], target_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg(subcommand)
        .args(args)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .args(["--profile", &cargo_profile()])
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null());
    if !rustc_args.is_empty() {
        cmd.arg("--").args(rustc_args);
    }
    without_cargo_test_env(&mut cmd);
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "cargo {subcommand} {} failed ({:?}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether cargo set `name` for this test process only (and a nested
/// cargo's build script watching it would take it for a change).
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
