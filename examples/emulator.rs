//! Runs the ENS emulator standalone so devices and C programs can be pointed
//! at it.
//!
//! ```text
//! cargo run --example emulator --features emulator -- [--port N] [--bind IP] [--bucket NAME]...
//!     [--clock-skew SECS] [--oss-region REGION] [--oss-refuse-v1] [--request-log N]
//!     [--data-dir DIR] [--fault NAME[=ARG][:COUNT]]...
//!     [--credential-lifetime SECS] [--oidc-token TOKEN] [--ecs-role NAME] [--ecs-require-imdsv2]
//! ```
//!
//! On the same port it serves STS (`AssumeRole`, `AssumeRoleWithOIDC`),
//! the ECS metadata paths (`/latest/...`) and a credentials URI
//! (`/credentials-uri`), each handing out fresh STS credentials that live
//! `--credential-lifetime` seconds (default 3600), then are refused by ENS
//! and OSS as expired.
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
//! `oss-reset=BYTES`, `oss-bad-crc`, `oss-slow=MS`; for the credentials
//! services one of the first list after `credentials:` (any of them),
//! `sts:`, `ecs:` or `uri:`, e.g. `--fault sts:internal-error:3`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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
                // `sts:internal-error` has a `:` but no COUNT.
                let (name, count) = match spec.rsplit_once(':') {
                    Some((n, c)) if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) => (
                        n.to_owned(),
                        c.parse()
                            .unwrap_or_else(|_| usage("--fault COUNT must be a number")),
                    ),
                    _ => (spec.clone(), 1),
                };
                let fault = name.parse::<Fault>().unwrap_or_else(|e| usage(&e));
                faults.push((fault, count));
            }
            "--credential-lifetime" => {
                let secs = value("--credential-lifetime")
                    .parse()
                    .unwrap_or_else(|_| usage("--credential-lifetime takes seconds"));
                builder = builder.issued_credential_lifetime(Duration::from_secs(secs));
            }
            "--oidc-token" => builder = builder.oidc_token(value("--oidc-token")),
            "--ecs-role" => builder = builder.ecs_role_name(value("--ecs-role")),
            "--ecs-require-imdsv2" => builder = builder.ecs_require_imdsv2(true),
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
    println!(
        "STS API:     {} (AssumeRole, AssumeRoleWithOIDC; ALIBABA_CLOUD_STS_ENDPOINT)",
        emu.sts_endpoint()
    );
    println!(
        "ECS role:    {} (IMDSv2 and v1; ALIBABA_CLOUD_ECS_METADATA_ENDPOINT)",
        emu.ecs_metadata_endpoint()
    );
    println!(
        "Creds URI:   {} (ALIBABA_CLOUD_CREDENTIALS_URI)",
        emu.credentials_uri()
    );
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
    eprintln!("usage: emulator [--port N] [--bind IP] [--bucket NAME]... [--clock-skew SECS] [--oss-region REGION] [--oss-refuse-v1] [--request-log N] [--data-dir DIR] [--fault NAME[=ARG][:COUNT]]... [--credential-lifetime SECS] [--oidc-token TOKEN] [--ecs-role NAME] [--ecs-require-imdsv2]");
    eprintln!("faults: internal-error unavailable throttling[=MS] reset slow[=MS] non-json truncated bad-gateway huge[=BYTES]");
    eprintln!("upload faults: oss-internal-error oss-error-in-200 oss-reset=BYTES oss-bad-crc oss-slow=MS");
    eprintln!("credentials faults: credentials:FAULT sts:FAULT ecs:FAULT uri:FAULT (FAULT from the first list)");
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}
