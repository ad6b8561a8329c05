//! Per-call cost of the client against a bare ureq POST, and signing alone.
//!
//! `cargo bench --bench client`. A plain harness (no criterion): the targets
//! are ratios of two things measured interleaved in one process, which a
//! statistics harness does not give directly, and criterion would add about
//! forty crates to build. Each side runs in alternating batches against the
//! same loopback keep-alive server with a fixed answer; wall time gives
//! throughput, the calling thread's on-CPU time (from
//! /proc/thread-self/schedstat) gives client CPU. The server runs on other
//! threads, so its CPU is not counted on either side.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ens_upload::sign::rpc_v1;
use ens_upload::{Client, Credentials, PrepareUploadRequest, PrepareUploadResponse};

const BODY: &[u8] =
    br#"{"RequestId":"6666C5A5-75ED-422E-A022-7121FA18C968","BucketName":"test-xxxxxx","Endpoint":"eos.aliyuncs.com"}"#;

/// A keep-alive HTTP/1.1 server answering every request with `BODY`.
fn fixed_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || serve(stream));
        }
    });
    format!("http://{addr}")
}

fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    );
    let mut answer = head.into_bytes();
    answer.extend_from_slice(BODY);
    let mut line = String::new();
    loop {
        let mut content_length = 0usize;
        // Read one request head.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; content_length];
        if reader.read_exact(&mut body).is_err() || writer.write_all(&answer).is_err() {
            return;
        }
    }
}

/// Nanoseconds this thread has spent on a CPU.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    calls: u64,
    wall: Duration,
    cpu_ns: u64,
}

impl Tally {
    fn run(&mut self, n: u64, mut f: impl FnMut()) {
        let cpu = thread_cpu_ns();
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        self.wall += start.elapsed();
        self.cpu_ns += thread_cpu_ns() - cpu;
        self.calls += n;
    }
    fn add(&mut self, other: &Tally) {
        self.calls += other.calls;
        self.wall += other.wall;
        self.cpu_ns += other.cpu_ns;
    }
    fn per_sec(&self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64()
    }
    fn cpu_us_per_call(&self) -> f64 {
        self.cpu_ns as f64 / 1000.0 / self.calls as f64
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One bare ureq call (named, so profilers can single it out).
#[inline(never)]
fn call_bare(agent: &ureq::Agent, url: &str) {
    let mut resp = agent.post(url).send(&[][..]).unwrap();
    let body = resp.body_mut().read_to_vec().unwrap();
    let out: PrepareUploadResponse = serde_json::from_slice(&body).unwrap();
    std::hint::black_box(out);
}

/// One client call.
#[inline(never)]
fn call_ours(client: &Client, request: &PrepareUploadRequest) {
    std::hint::black_box(client.prepare_upload(request).unwrap());
}

/// Runs this bench again pinned to one CPU (with `taskset`), unless it
/// already is. The client and the server threads then share one core, so
/// neither side gets a core to itself by chance: unpinned, each side's
/// connection thread lands on the client's core or the other one, and the
/// results flip between runs.
fn pin_to_one_cpu() {
    // Profilers that follow one process (valgrind) set this.
    if std::env::var_os("ENS_BENCH_NO_PIN").is_some() {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("")
        .trim()
        .to_owned();
    if allowed.is_empty() || !allowed.contains([',', '-']) {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    match std::process::Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .status()
    {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => eprintln!("taskset not available ({e}); running unpinned, expect noisy ratios"),
    }
}

fn main() {
    pin_to_one_cpu();
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // and must stay quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, batch) = if quick { (2, 20) } else { (101, 200) };

    let endpoint = fixed_server();
    let client = Client::builder()
        .endpoint(endpoint.clone())
        .credentials(Credentials::access_key("LTAI5tBenchKeyId", "BenchSecret"))
        .build()
        .unwrap();
    let request = PrepareUploadRequest::new("test").client_ip("180.166.1.2");

    // The bare baseline: one already-signed URL, the same JSON parse.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    let params = [
        ("Action", "PrepareUpload"),
        ("Version", "2017-11-10"),
        ("Format", "JSON"),
        ("AccessKeyId", "LTAI5tBenchKeyId"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "3a7f0d2c9b8e4f61a5d4c3b2a1908f7e"),
        ("Timestamp", "2024-01-02T03:04:05Z"),
        ("BucketName", "test"),
        ("ClientIp", "180.166.1.2"),
    ];
    let url = format!(
        "{endpoint}/?{}",
        rpc_v1("POST", &params, "BenchSecret").signed_query()
    );
    // The same bare call on an agent with the client's timeouts, to show
    // what the timeouts themselves cost (ureq re-arms the socket timeouts
    // on every read when a deadline is set).
    let timed_agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_recv_response(Some(Duration::from_secs(10)))
        .timeout_recv_body(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let bare = || call_bare(&agent, &url);
    let bare_timed = || call_bare(&timed_agent, &url);
    let ours = || call_ours(&client, &request);

    // Warm both connection pools and caches.
    for _ in 0..200 {
        bare();
        bare_timed();
        ours();
    }
    let (mut t_bare, mut t_ours) = (Tally::default(), Tally::default());
    // Per-round ratios: a burst of load from other processes spoils a round
    // or two, not the median.
    let (mut speed_ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
    let (mut t_timed, mut timed_cpu_ratios) = (Tally::default(), Vec::new());
    for round in 0..rounds {
        let (mut b, mut o) = (Tally::default(), Tally::default());
        // Alternate which side goes first so drift hits both alike.
        if round % 2 == 0 {
            b.run(batch, bare);
            o.run(batch, ours);
        } else {
            o.run(batch, ours);
            b.run(batch, bare);
        }
        let mut t = Tally::default();
        t.run(batch, bare_timed);
        timed_cpu_ratios.push(o.cpu_us_per_call() / t.cpu_us_per_call());
        t_timed.add(&t);
        speed_ratios.push(o.per_sec() / b.per_sec());
        cpu_ratios.push(o.cpu_us_per_call() / b.cpu_us_per_call());
        t_bare.add(&b);
        t_ours.add(&o);
    }

    // Signing alone: the RPC v1 signer over PrepareUpload's parameters.
    let sign_iters: u32 = if quick { 1_000 } else { 200_000 };
    let start = Instant::now();
    for _ in 0..sign_iters {
        std::hint::black_box(rpc_v1("POST", std::hint::black_box(&params), "BenchSecret"));
    }
    let sign_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(sign_iters);

    println!(
        "client bench ({} calls per side, {rounds} interleaved rounds)",
        t_bare.calls
    );
    println!(
        "  bare ureq:   {:>9.0} calls/s  {:>7.2} us CPU/call",
        t_bare.per_sec(),
        t_bare.cpu_us_per_call()
    );
    println!(
        "  bare ureq with the client's timeouts: {:>9.0} calls/s  {:>7.2} us CPU/call",
        t_timed.per_sec(),
        t_timed.cpu_us_per_call()
    );
    println!(
        "  ens-upload:  {:>9.0} calls/s  {:>7.2} us CPU/call",
        t_ours.per_sec(),
        t_ours.cpu_us_per_call()
    );
    println!(
        "  throughput ratio (ours / bare): median {:.3} of {rounds} rounds (totals {:.3})   target >= 0.90",
        median(&mut speed_ratios),
        t_ours.per_sec() / t_bare.per_sec()
    );
    println!(
        "  client CPU ratio (ours / bare): median {:.3} of {rounds} rounds (totals {:.3})   target <= 1.15",
        median(&mut cpu_ratios),
        t_ours.cpu_us_per_call() / t_bare.cpu_us_per_call()
    );
    println!(
        "  client CPU ratio (ours / bare ureq with the client's timeouts): median {:.3}",
        median(&mut timed_cpu_ratios)
    );
    println!("  signing alone (rpc_v1, 10 params): {sign_us:.3} us/request   target <= 2 us");
}
