//! Runs the ENS emulator standalone so devices and C programs can be pointed
//! at it.
//!
//! ```text
//! cargo run --example emulator --features emulator -- [--port N] [--bind IP] [--bucket NAME]...
//! ```

use std::net::{IpAddr, SocketAddr};

use ens_upload::emulator::{self, Emulator};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut ip: IpAddr = [127, 0, 0, 1].into();
    let mut port: u16 = 0;
    let mut builder = Emulator::builder();
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
    println!("Press Ctrl-C to stop.");
    loop {
        std::thread::park();
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("emulator: {problem}");
    }
    eprintln!("usage: emulator [--port N] [--bind IP] [--bucket NAME]...");
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}
