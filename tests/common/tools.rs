//! External tools some tests need (a C compiler, valgrind, make, cmake,
//! pkg-config). A test that did not run must never be reported as passed,
//! and libtest cannot mark a test ignored once it has started, so a missing
//! tool fails the test, in CI and everywhere else, with the one line that
//! installs it. To run the rest without it, leave the test out by name
//! (`cargo test -- --skip NAME`): the summary then counts it as filtered out.

use std::path::Path;
use std::process::{Command, Stdio};

/// Every Debian package the tests use (what `.ci/run` installs).
pub const ALL_PACKAGES: &str = "gcc g++ make cmake pkg-config valgrind bsdutils";

/// Returns when `probe` (e.g. `tool --version`) runs and succeeds; fails the
/// test otherwise, naming `tool`, what it is needed for, and how to install
/// it or leave the test out.
pub fn require_tool(tool: &str, probe: &mut Command, what_for: &str) {
    let found = probe
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return;
    }
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map_or_else(|| "<this test>".to_owned(), str::to_owned);
    panic!(
        "`{tool}` is missing, so {what_for} cannot run (a test that did not run is not \
         reported as passed).\n\
         Install it:          apt-get install -y {}\n\
         Every tool at once:  apt-get install -y {ALL_PACKAGES}   (.ci/run does this)\n\
         Or leave it out:     cargo test -- --skip {test}",
        apt_packages(tool)
    );
}

/// The Debian packages that provide `tool`.
fn apt_packages(tool: &str) -> String {
    let name = Path::new(tool)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(tool);
    match name {
        "cc" | "gcc" => "gcc libc6-dev".to_owned(),
        "c++" | "g++" => "g++".to_owned(),
        "clang++" => "clang".to_owned(),
        "script" => "bsdutils".to_owned(),
        other => other.to_owned(),
    }
}
