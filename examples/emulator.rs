//! Runs the ENS emulator standalone so devices and C programs can be pointed
//! at it.
//!
//! ```text
//! cargo run --example emulator --features emulator -- [--port N] [--bind IP] [--bucket NAME]...
//!     [--clock-skew SECS] [--oss-region REGION] [--oss-refuse-v1] [--request-log N]
//!     [--fault NAME[=ARG][:COUNT]]...
//! ```
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

fn main() {
    let mut args = std::env::args().skip(1);
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
    let emu = match builder.bind(SocketAddr::new(ip, port)).start() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("emulator: cannot listen on {ip}:{port}: {e}");
            std::process::exit(1);
        }
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
    println!("OSS signing: V4 (OSS4-HMAC-SHA256) and V1; see --oss-region, --oss-refuse-v1");
    println!("Press Ctrl-C to stop.");
    loop {
        std::thread::park();
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("emulator: {problem}");
    }
    eprintln!("usage: emulator [--port N] [--bind IP] [--bucket NAME]... [--clock-skew SECS] [--oss-region REGION] [--oss-refuse-v1] [--request-log N] [--fault NAME[=ARG][:COUNT]]...");
    eprintln!("faults: internal-error unavailable throttling[=MS] reset slow[=MS] non-json truncated bad-gateway huge[=BYTES]");
    eprintln!("upload faults: oss-internal-error oss-reset=BYTES oss-bad-crc oss-slow=MS");
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}
