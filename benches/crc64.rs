//! CRC-64 speed: `ens_upload::crc64` against the slicing-by-8 table loop it
//! replaced (copied below as the baseline), interleaved in one process.
//!
//! `cargo bench --bench crc64`. A plain harness: the figure that holds on a
//! shared machine is the ratio of two loops measured alternately, round by
//! round, over the same bytes in 64 KiB updates (as an upload body feeds
//! it), timed by this thread's on-CPU time (`/proc/thread-self/schedstat`),
//! so time spent waiting for a core is not counted. Two cases: a 256 KiB
//! buffer read over and over (in cache, as an upload's read buffer is) and
//! a 64 MiB one (from memory). Prints the median GB/s of each side, the
//! median ratio, and which path `crc64fast` chose (PCLMULQDQ, PMULL or its
//! table). `ENS_CRC_BENCH_ROUNDS` sets the rounds (default 15).

use std::time::Instant;

use ens_upload::crc64::Crc64;

/// The reflected ECMA-182 polynomial.
const POLY: u64 = 0xC96C_5795_D787_0F42;

/// The table loop `src/crc64.rs` had before `crc64fast`: slicing by 8.
struct Sliced8 {
    tables: Box<[[u64; 256]; 8]>,
}

impl Sliced8 {
    fn new() -> Sliced8 {
        let mut t = Box::new([[0u64; 256]; 8]);
        for i in 0..256 {
            let mut crc = i as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
            t[0][i] = crc;
        }
        for k in 1..8 {
            for i in 0..256 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            }
        }
        Sliced8 { tables: t }
    }

    fn update(&self, mut crc: u64, data: &[u8]) -> u64 {
        let t = &self.tables;
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let v = crc ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            crc = t[7][(v & 0xff) as usize]
                ^ t[6][((v >> 8) & 0xff) as usize]
                ^ t[5][((v >> 16) & 0xff) as usize]
                ^ t[4][((v >> 24) & 0xff) as usize]
                ^ t[3][((v >> 32) & 0xff) as usize]
                ^ t[2][((v >> 40) & 0xff) as usize]
                ^ t[1][((v >> 48) & 0xff) as usize]
                ^ t[0][(v >> 56) as usize];
        }
        for &b in chunks.remainder() {
            crc = t[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        crc
    }
}

/// Which code `crc64fast` runs here.
fn simd_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("pclmulqdq") && is_x86_feature_detected!("sse4.1") {
            return "PCLMULQDQ";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("pmull") {
            return "PMULL";
        }
    }
    "table (no carry-less multiply on this CPU or target)"
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// This thread's on-CPU time in seconds; wall time where schedstat is
/// missing.
fn cpu_seconds(wall: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(|ns| ns as f64 / 1e9)
        .unwrap_or_else(|| wall.elapsed().as_secs_f64())
}

/// Times `f` over `passes` passes of `data` in 64 KiB updates.
fn timed(data: &[u8], passes: usize, mut f: impl FnMut(&[u8])) -> f64 {
    let wall = Instant::now();
    let start = cpu_seconds(wall);
    for _ in 0..passes {
        for piece in data.chunks(64 << 10) {
            f(piece);
        }
    }
    cpu_seconds(wall) - start
}

fn main() {
    // `cargo test --benches` runs this without --bench: a quick check only.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds: usize = if quick {
        1
    } else {
        std::env::var("ENS_CRC_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(15)
            .max(1)
    };
    let table = Sliced8::new();
    println!(
        "crc64 bench ({}, {rounds} interleaved rounds, 64 KiB updates, thread CPU time, median): crc64fast path {}",
        std::env::consts::ARCH,
        simd_path()
    );
    // (label, buffer bytes, passes per round): 256 MiB per round each.
    let cases: [(&str, usize, usize); 2] = if quick {
        [("in cache", 256 << 10, 1), ("from memory", 1 << 20, 1)]
    } else {
        [("in cache", 256 << 10, 1024), ("from memory", 64 << 20, 4)]
    };
    for (label, len, passes) in cases {
        let data: Vec<u8> = (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let bytes = (len * passes) as f64;
        let (mut fast, mut slow, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mut crc = Crc64::new();
            let fast_s = timed(&data, passes, |p| crc.update(p));
            let mut state = !0u64;
            let slow_s = timed(&data, passes, |p| state = table.update(state, p));
            assert_eq!(crc.value(), !state, "the two loops disagree");
            fast.push(bytes / fast_s / 1e9);
            slow.push(bytes / slow_s / 1e9);
            ratio.push(slow_s / fast_s);
        }
        println!(
            "  {label:<11} ({:>6} KiB buffer): ens_upload::crc64 {:6.2} GB/s, slicing-by-8 table {:5.2} GB/s, ratio {:5.1}x",
            len >> 10,
            median(&mut fast),
            median(&mut slow),
            median(&mut ratio)
        );
    }
}
