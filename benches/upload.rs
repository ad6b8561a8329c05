//! Upload throughput against `curl -T`, and peak RSS as the file grows.
//!
//! `cargo bench --bench upload` (needs `curl` on the PATH). A plain harness:
//! the targets are a ratio of two things measured interleaved in one run
//! and a memory high-water mark, neither of which a statistics harness
//! gives. The emulator's OSS side runs in this process on loopback; every
//! upload runs in a child process (this binary again, in child mode), so
//! its peak RSS (`VmHWM` from /proc/self/status, read by the child at the
//! end) is the upload's alone, and curl and the library are both timed as
//! whole processes by the parent, alternating, median of the runs, with
//! their CPU time (user + system, from the parent's `cutime`/`cstime`),
//! which the other work on a shared machine disturbs less than wall time.
//!
//! Files: 64 MiB and 1 GiB, written in 1 MiB chunks to the temporary
//! directory and deleted afterwards (the emulator stores each object once
//! more while it runs).
//!
//! Environment: `ENS_UPLOAD_BENCH_RUNS` (default 3) runs per side and size;
//! `ENS_UPLOAD_BENCH_SIZES_MIB` (default `64,1024`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ens_upload::emulator::{Emulator, TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET};
use ens_upload::{Client, Credentials, PrepareUploadRequest, UploadOptions};

/// Set in the child: `endpoint|file|key|mode`, mode `multipart` (the
/// defaults) or `single` (one PutObject, as curl does).
const CHILD_ENV: &str = "ENS_UPLOAD_BENCH_CHILD";

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("upload bench: curl is not installed (Debian package `curl`); skipped");
        return;
    }
    let runs: usize = std::env::var("ENS_UPLOAD_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let sizes: Vec<u64> = std::env::var("ENS_UPLOAD_BENCH_SIZES_MIB")
        .unwrap_or_else(|_| "64,1024".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();

    let emu = Emulator::start().expect("emulator starts");
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::access_key(
            TEST_ACCESS_KEY_ID,
            TEST_ACCESS_KEY_SECRET,
        ))
        .build()
        .unwrap();
    let target = client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    let dir = std::env::temp_dir().join(format!("ens-upload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    println!(
        "upload bench: loopback emulator {}, {runs} runs per side (median), release build",
        emu.endpoint()
    );
    for mib in sizes {
        let file = dir.join(format!("{mib}mib.bin"));
        write_file(&file, mib << 20);
        let size = mib << 20;
        let (mut curl, mut single, mut multi) = (Vec::new(), Vec::new(), Vec::new());
        let (mut cpu_curl, mut cpu_single, mut cpu_multi) = (Vec::new(), Vec::new(), Vec::new());
        let (mut rss_single, mut rss_multi) = (0u64, 0u64);
        for _ in 0..runs {
            let cpu = children_cpu();
            curl.push(curl_put(
                &target.endpoint,
                &target.bucket_name,
                "bench/curl.bin",
                &file,
            ));
            cpu_curl.push(children_cpu() - cpu);
            let cpu = children_cpu();
            let (t, rss) = library(&emu, &file, "bench/single.bin", "single");
            cpu_single.push(children_cpu() - cpu);
            single.push(t);
            rss_single = rss_single.max(rss);
            let cpu = children_cpu();
            let (t, rss) = library(&emu, &file, "bench/multi.bin", "multipart");
            cpu_multi.push(children_cpu() - cpu);
            multi.push(t);
            rss_multi = rss_multi.max(rss);
        }
        let expected = emu
            .oss_object(&target.bucket_name, "bench/curl.bin")
            .expect("curl stored the object");
        for key in ["bench/single.bin", "bench/multi.bin"] {
            let got = emu.oss_object(&target.bucket_name, key).unwrap();
            assert_eq!(
                (got.size, got.crc64),
                (expected.size, expected.crc64),
                "{key}"
            );
        }
        assert_eq!(expected.size, size);
        let (c, s, m) = (median(&mut curl), median(&mut single), median(&mut multi));
        let rate = |d: Duration| size as f64 / (1u64 << 20) as f64 / d.as_secs_f64();
        let cpu = |v: &mut Vec<u64>| {
            v.sort();
            v[v.len() / 2] * 1000 / TICKS_PER_SEC
        };
        let (curl_ms, single_ms, multi_ms) = (
            cpu(&mut cpu_curl),
            cpu(&mut cpu_single),
            cpu(&mut cpu_multi),
        );
        // The client CPU target is a ratio to curl's (issue: <= 1.3).
        let times_curl = |ms: u64| ms as f64 / curl_ms.max(1) as f64;
        println!("{mib} MiB:");
        println!(
            "  curl -T (one PUT)                  {:7.1} MiB/s                     client CPU {:5} ms",
            rate(c),
            curl_ms
        );
        println!(
            "  library, one PutObject             {:7.1} MiB/s  ratio to curl {:.2}  client CPU {:5} ms ({:.2}x curl's)  peak RSS {} KiB",
            rate(s),
            c.as_secs_f64() / s.as_secs_f64(),
            single_ms,
            times_curl(single_ms),
            rss_single
        );
        println!(
            "  library, defaults (parts, threads by size) {:7.1} MiB/s  ratio to curl {:.2}  client CPU {:5} ms ({:.2}x curl's)  peak RSS {} KiB",
            rate(m),
            c.as_secs_f64() / m.as_secs_f64(),
            multi_ms,
            times_curl(multi_ms),
            rss_multi
        );
        let _ = std::fs::remove_file(&file);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child: one upload, then `<peak RSS KiB>` on stdout.
fn child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let [endpoint, file, key, mode] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let client = Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::access_key(
            TEST_ACCESS_KEY_ID,
            TEST_ACCESS_KEY_SECRET,
        ))
        .build()
        .unwrap();
    let mut options = UploadOptions::new();
    if mode == "single" {
        options = options.multipart_threshold(u64::MAX);
    }
    client
        .upload_file(&PrepareUploadRequest::new("test"), key, file, &options)
        .expect("upload");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    println!("{hwm}");
}

/// Runs the library in a child process: its wall time and peak RSS (KiB).
fn library(emu: &Emulator, file: &Path, key: &str, mode: &str) -> (Duration, u64) {
    let spec = format!("{}|{}|{key}|{mode}", emu.endpoint(), file.display());
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, spec)
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "library child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (took, rss)
}

/// `curl -T` of the file as one signed PutObject; its wall time.
fn curl_put(endpoint: &str, bucket: &str, key: &str, file: &Path) -> Duration {
    let date = http_date(std::time::SystemTime::now());
    let resource = ens_upload::sign::oss_canonical_resource(Some(bucket), key, &[]);
    let sig = ens_upload::sign::oss_v1::<&str, &str>(
        "PUT",
        "",
        "",
        &date,
        &[],
        &resource,
        TEST_ACCESS_KEY_SECRET,
    );
    let started = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T"])
        .arg(file)
        .args(["-H", "Expect:", "-H", "Content-Type:"])
        .arg("-H")
        .arg(format!("Date: {date}"))
        .arg("-H")
        .arg(format!(
            "Authorization: {}",
            sig.authorization(TEST_ACCESS_KEY_ID)
        ))
        .arg(format!("http://{endpoint}/{bucket}/{key}"))
        .output()
        .expect("curl runs");
    let took = started.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Writes `len` bytes of cheap pseudo-random data in 1 MiB chunks.
fn write_file(path: &PathBuf, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut chunk = vec![0u8; 1 << 20];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut left = len;
    while left > 0 {
        for w in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

/// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 on
/// Linux).
const TICKS_PER_SEC: u64 = 100;

/// CPU time (user + system, in ticks) of this process's waited-for
/// children, from /proc/self/stat (`cutime`, `cstime`): the difference
/// around one child is that child's CPU.
fn children_cpu() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the line; `rest` starts at field 3.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(13) + get(14)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for the `Date` header
/// curl sends.
fn http_date(t: std::time::SystemTime) -> String {
    let format = time::format_description::parse(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .expect("a valid format description");
    time::OffsetDateTime::from(t)
        .format(&format)
        .expect("every field is in the format")
}
