//! Ctrl-C during an upload at a terminal: the upload is cancelled through
//! its progress callback, and the program says what was stored and how to
//! resume, instead of dying mid-line.
//!
//! Rust's standard library installs no signal handler and this example
//! takes no dependency for one (nor `unsafe` code), so Ctrl-C is noticed by
//! a stand-in: before the upload starts, the program starts a small
//! "sentinel" copy of itself, then re-runs itself through
//! `sh -c 'trap "" INT; exec ...'` (same process id, same terminal), which
//! leaves it ignoring SIGINT. Ctrl-C still reaches the terminal's
//! foreground processes: it kills the sentinel, and a thread here sees the
//! sentinel gone (Linux `/proc`) and asks the upload to cancel. The
//! sentinel ends by itself when this program does. Where any of this is
//! unavailable (not Linux, no `sh`), Ctrl-C just stops the program, and a
//! checkpoint still lets the next run resume.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Set in the re-run program: the sentinel's process id.
const WATCH: &str = "ENS_UPLOAD_CLI_SENTINEL_PID";
/// Set in the sentinel.
const SENTINEL: &str = "ENS_UPLOAD_CLI_SENTINEL";

/// How long a cancel may take before the program stops anyway (a transfer
/// that has stalled hears no progress callback to cancel through).
const GRACE: Duration = Duration::from_secs(5);

/// Runs the sentinel when this process is one (and never returns then).
pub fn run_sentinel_if_asked() {
    if std::env::var_os(SENTINEL).is_none() {
        return;
    }
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        while std::os::unix::process::parent_id() == parent {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    std::process::exit(0);
}

/// Arms Ctrl-C for this run: returns the flag Ctrl-C raises, or `None`
/// when it cannot be noticed here. May re-run the program first (see the
/// module's comment), which never returns on success.
pub fn arm() -> Option<Arc<AtomicBool>> {
    if let Some(pid) = std::env::var(WATCH)
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    {
        return Some(watch(pid));
    }
    if !std::path::Path::new("/proc/self/stat").exists() {
        return None;
    }
    rerun_ignoring_sigint();
    None
}

/// The thread that raises the flag when the sentinel is gone, and stops
/// the program if the cancel has not ended it after [`GRACE`].
fn watch(sentinel: u32) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&flag);
    std::thread::spawn(move || {
        while alive(sentinel) {
            std::thread::sleep(Duration::from_millis(100));
        }
        raised.store(true, Ordering::SeqCst);
        std::thread::sleep(GRACE);
        eprintln!("\nprepare_upload: interrupted");
        std::process::exit(130);
    });
    flag
}

/// Whether a process runs (a zombie, killed but not reaped, does not).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
    state.is_some_and(|c| c != 'Z' && c != 'X')
}

#[cfg(unix)]
fn rerun_ignoring_sigint() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let sentinel = Command::new(&exe)
        .env(SENTINEL, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut sentinel) = sentinel else {
        return;
    };
    // exec only returns on failure: then go on without Ctrl-C handling.
    let _failed = Command::new("sh")
        .arg("-c")
        .arg("trap '' INT; exec \"$0\" \"$@\"")
        .arg(&exe)
        .args(std::env::args_os().skip(1))
        .env(WATCH, sentinel.id().to_string())
        .exec();
    let _ = sentinel.kill();
    let _ = sentinel.wait();
}

#[cfg(not(unix))]
fn rerun_ignoring_sigint() {}
