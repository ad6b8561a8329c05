//! Runs the ENS emulator standalone so devices and C programs can be pointed
//! at it.
//!
//! ```text
//! cargo run --example emulator --features emulator -- [--port N] [--bind IP] [--bucket NAME]...
//!     [--clock-skew SECS] [--oss-region REGION] [--oss-refuse-v1] [--request-log N]
//!     [--data-dir DIR] [--fault NAME[=ARG][:COUNT]]...
//! ```
//!
//! `--data-dir` keeps the uploaded objects and unfinished multipart uploads
//! in DIR across runs (and the port, when it is free), so an upload
//! interrupted together with the emulator resumes against the next one.
//! Without it they go to a temporary directory, removed when the emulator
//! stops, Ctrl-C (SIGINT) and SIGTERM included: a helper process in a
//! process group of its own waits for this one to end, however it ends,
//! and removes the directory (no signal handler needed).
//!
//! OSS requests may be signed with signature V4 (`OSS4-HMAC-SHA256`) or V1.
//! `--oss-region` makes V4 requests scoped to another region fail as OSS
//! does (`InvalidArgument`, EC 0002-00000226); `--oss-refuse-v1` refuses V1
//! like a bucket made since September 2025 (`AccessDenied`, EC
//! 0002-00000080). `--request-log` is how many requests it remembers (the
//! most recent; default 10,000).
//!
//! Faults (played for the first COUNT requests, default 1): `internal-error`,
//! `unavailable`, `throttling[=MS]`, `reset`, `slow[=MS]`, `non-json`,
//! `truncated`, `bad-gateway`, `huge[=BYTES]`; for uploads `oss-internal-error`,
//! `oss-reset=BYTES`, `oss-bad-crc`, `oss-slow=MS`.

use std::net::{IpAddr, SocketAddr};

use ens_upload::emulator::{self, Emulator, Fault};

/// The hidden argument that runs this program as the clean-up helper.
const CLEANUP_AFTER_EXIT: &str = "--cleanup-after-exit";

fn main() {
    if std::env::args().nth(1).as_deref() == Some(CLEANUP_AFTER_EXIT) {
        cleanup_after_exit(std::env::args_os().nth(2));
    }
    let mut args = std::env::args().skip(1);
    let mut data_dir = None;
    let mut ip: IpAddr = [127, 0, 0, 1].into();
    let mut port: u16 = 0;
    let mut builder = Emulator::builder();
    let mut faults: Vec<(Fault, usize)> = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--port" => {
                port = value("--port")
                    .parse()
                    .unwrap_or_else(|_| usage("--port takes 0-65535"))
            }
            "--bind" => {
                ip = value("--bind")
                    .parse()
                    .unwrap_or_else(|_| usage("--bind takes an IP address"))
            }
            "--bucket" => builder = builder.bucket(value("--bucket")),
            "--clock-skew" => {
                let secs = value("--clock-skew")
                    .parse()
                    .unwrap_or_else(|_| usage("--clock-skew takes seconds"));
                builder = builder.clock_skew_secs(secs);
            }
            "--data-dir" => data_dir = Some(std::path::PathBuf::from(value("--data-dir"))),
            "--oss-region" => builder = builder.oss_region(value("--oss-region")),
            "--oss-refuse-v1" => builder = builder.oss_refuse_v1(),
            "--request-log" => {
                let n = value("--request-log")
                    .parse()
                    .unwrap_or_else(|_| usage("--request-log takes a number of requests"));
                builder = builder.request_log_limit(n);
            }
            "--fault" => {
                let spec = value("--fault");
                let (name, count) = match spec.rsplit_once(':') {
                    Some((n, c)) => (
                        n.to_owned(),
                        c.parse()
                            .unwrap_or_else(|_| usage("--fault COUNT must be a number")),
                    ),
                    None => (spec.clone(), 1),
                };
                let fault = name.parse::<Fault>().unwrap_or_else(|e| usage(&e));
                faults.push((fault, count));
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if let Some(dir) = &data_dir {
        builder = builder.data_dir(dir);
    }
    let emu = match builder.bind(SocketAddr::new(ip, port)).start() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("emulator: cannot start on {ip}:{port}: {e}");
            std::process::exit(1);
        }
    };
    // Kept open for as long as this process lives: its end is the helper's
    // signal to clean up.
    let _helper = if data_dir.is_none() {
        spawn_cleanup_helper(emu.storage_dir())
    } else {
        None
    };
    for (fault, count) in faults {
        println!("Fault:       {fault:?} for the next {count} request(s)");
        emu.inject(fault, count);
    }
    println!("ENS emulator listening on {}", emu.endpoint());
    println!(
        "AccessKey:   {} / {}",
        emulator::TEST_ACCESS_KEY_ID,
        emulator::TEST_ACCESS_KEY_SECRET
    );
    println!(
        "STS:         {} / {} / {}",
        emulator::TEST_STS_ACCESS_KEY_ID,
        emulator::TEST_STS_ACCESS_KEY_SECRET,
        emulator::TEST_SECURITY_TOKEN
    );
    for (id, state) in emulator::TEST_DENIED_KEYS {
        println!(
            "Failing key: {id} / {} -> {state:?}",
            emulator::TEST_ACCESS_KEY_SECRET
        );
    }
    println!("Buckets:     test (and any given with --bucket); others answer NoSuchBucket");
    match &data_dir {
        Some(dir) => println!(
            "Storage:     {} (objects and unfinished uploads kept across runs)",
            dir.display()
        ),
        None => println!(
            "Storage:     {} (removed when the emulator stops; --data-dir DIR keeps it)",
            emu.storage_dir().display()
        ),
    }
    println!("OSS signing: V4 (OSS4-HMAC-SHA256) and V1; see --oss-region, --oss-refuse-v1");
    println!("Press Ctrl-C to stop.");
    loop {
        std::thread::park();
    }
}

/// Starts this program again as the clean-up helper for `dir`, in a
/// process group of its own (so the Ctrl-C meant for the emulator does not
/// reach it), reading a pipe from this process: the pipe closes when this
/// process ends, however it ends, and the helper then removes `dir`.
#[cfg(unix)]
fn spawn_cleanup_helper(dir: &std::path::Path) -> Option<std::process::ChildStdin> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().ok()?;
    let spawned = Command::new(exe)
        .arg(CLEANUP_AFTER_EXIT)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    match spawned {
        Ok(mut child) => child.stdin.take(),
        Err(e) => {
            eprintln!(
                "emulator: no clean-up helper ({e}): after Ctrl-C, {} stays until the next emulator starts",
                dir.display()
            );
            None
        }
    }
}

#[cfg(not(unix))]
fn spawn_cleanup_helper(_dir: &std::path::Path) -> Option<std::process::ChildStdin> {
    None
}

/// The helper: waits for the emulator's end (its pipe closing), then
/// removes the storage directory, if it is one of the emulator's own.
fn cleanup_after_exit(dir: Option<std::ffi::OsString>) -> ! {
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    if let Some(dir) = dir.map(std::path::PathBuf::from) {
        let ours = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("ens-emulator-oss-"));
        if ours {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    std::process::exit(0);
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("emulator: {problem}");
    }
    eprintln!("usage: emulator [--port N] [--bind IP] [--bucket NAME]... [--clock-skew SECS] [--oss-region REGION] [--oss-refuse-v1] [--request-log N] [--data-dir DIR] [--fault NAME[=ARG][:COUNT]]...");
    eprintln!("faults: internal-error unavailable throttling[=MS] reset slow[=MS] non-json truncated bad-gateway huge[=BYTES]");
    eprintln!("upload faults: oss-internal-error oss-error-in-200 oss-reset=BYTES oss-bad-crc oss-slow=MS");
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}
