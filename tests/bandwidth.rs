//! Bandwidth limits against the emulator: the client-side rate (per upload
//! and per client, shared by an upload's threads), measured both by the
//! caller's clock and by the emulator (when each body's bytes arrived);
//! progress and the stall timeout under a limit; and OSS's
//! `x-oss-traffic-limit`, validated here, signed under V1 and V4, and
//! refused by the emulator outside OSS's range. Also uploads from memory
//! and from a reader in Rust (`upload_buffer`, `upload_reader`).
//!
//! The timed bounds are loose (the limiter's promise, ±15 %, on loopback):
//! a broken limiter runs at loopback speed, hundreds of times faster.

mod common;

use common::content;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ens_upload::emulator::{self, Emulator, RecordedRequest};
use ens_upload::sign::{oss_canonical_resource, oss_v1};
use ens_upload::upload::{MAX_TRAFFIC_LIMIT, MIN_PART_SIZE, MIN_TRAFFIC_LIMIT};
use ens_upload::{Client, Error, PrepareUploadRequest, ProgressAction, UploadOptions};

fn client_builder(emu: &Emulator) -> ens_upload::ClientBuilder {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .retries(0)
}

fn req() -> PrepareUploadRequest {
    PrepareUploadRequest::new("test")
}

fn data_requests(emu: &Emulator, key: &str) -> Vec<RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with(key))
        .collect()
}

/// The rate the bodies of `requests` arrived at together, in bytes per
/// second: their bytes over the time from the first one's first byte to
/// the last one's last byte, as the emulator saw them.
fn arrival_rate(requests: &[RecordedRequest]) -> f64 {
    let first = requests.iter().filter_map(|r| r.body_first_byte).min();
    let last = requests.iter().filter_map(|r| r.body_last_byte).max();
    let bytes: usize = requests.iter().map(|r| r.body_len).sum();
    let secs = last.unwrap().duration_since(first.unwrap()).as_secs_f64();
    bytes as f64 / secs
}

fn assert_near(what: &str, got: f64, want: f64, tolerance: f64) {
    let (lo, hi) = (want * (1.0 - tolerance), want * (1.0 + tolerance));
    assert!(
        (lo..=hi).contains(&got),
        "{what}: {got:.3}, wanted {want:.3} ± {:.0} %",
        tolerance * 100.0
    );
}

/// The yardstick: 20 MB at 4 MB/s takes 5 s (± 15 %), progress
/// ticks all along (every quarter second at the limit; never two seconds
/// without a call), and a stall timeout of half a second, a tenth of the
/// transfer, does not fire. The emulator saw the bytes arrive at the limit
/// too.
#[test]
fn twenty_megabytes_at_four_megabytes_a_second_take_five_seconds() {
    let emu = Emulator::start().unwrap();
    let client = client_builder(&emu).build().unwrap();
    let data = content(20_000_000, 1);
    let calls = Arc::new(Mutex::new(Vec::<(Instant, u64)>::new()));
    let seen = Arc::clone(&calls);
    let options = UploadOptions::new()
        .limit_rate(4_000_000)
        .stall_timeout(Duration::from_millis(500))
        .on_progress(move |done, _| {
            seen.lock().unwrap().push((Instant::now(), done));
            ProgressAction::Continue
        });
    let started = Instant::now();
    let out = client
        .upload_buffer(&req(), "bw/20mb.bin", &data, &options)
        .unwrap();
    let took = started.elapsed().as_secs_f64();
    eprintln!("20 MB at 4 MB/s: {took:.2} s, {:.0} B/s", 20e6 / took);
    assert_eq!(out.size, 20_000_000);
    assert_near("seconds for 20 MB at 4 MB/s", took, 5.0, 0.15);
    let calls = calls.lock().unwrap();
    assert!(calls.len() >= 15, "progress called {} times", calls.len());
    let longest_gap = calls
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0))
        .max()
        .unwrap();
    assert!(
        longest_gap < Duration::from_secs(2),
        "progress went quiet for {longest_gap:?}"
    );
    let parts = data_requests(&emu, "/bw/20mb.bin");
    assert!(parts.iter().all(|r| r.status == 200));
    let rate = arrival_rate(&parts);
    eprintln!("the emulator saw the bodies arrive at {rate:.0} B/s");
    assert_near("arrival rate (B/s)", rate, 4e6, 0.15);
}

/// One upload's limit is shared by its threads: 4 threads together stay
/// at the limit (each part at about a quarter of it), and a client's
/// limit holds across two uploads running at once.
#[test]
fn the_limit_is_shared_by_threads_and_by_a_clients_uploads() {
    let emu = Emulator::start().unwrap();
    let client = client_builder(&emu).build().unwrap();
    let data = content(8 << 20, 2);
    let options = UploadOptions::new()
        .part_size(1 << 20)
        .multipart_threshold(1 << 20)
        .threads(4)
        .limit_rate(2 << 20);
    let started = Instant::now();
    let out = client
        .upload_buffer(&req(), "bw/threads.bin", &data, &options)
        .unwrap();
    let took = started.elapsed().as_secs_f64();
    assert_eq!(out.parts, 8);
    assert_near("seconds for 8 MiB at 2 MiB/s on 4 threads", took, 4.0, 0.15);
    let parts = data_requests(&emu, "/bw/threads.bin");
    assert_near(
        "arrival rate (B/s)",
        arrival_rate(&parts),
        f64::from(2u32 << 20),
        0.15,
    );
    // Four at a time: each part came at about a quarter of the limit.
    let middle = &parts[2];
    let each = middle.body_rate().unwrap();
    assert!(
        each < f64::from(1u32 << 20),
        "a part came at {each:.0} B/s: the threads did not share the limit"
    );

    // The client's limit: two uploads at once share 2 MiB/s.
    let shared = client_builder(&emu).limit_rate(2 << 20).build().unwrap();
    let half = content(4 << 20, 3);
    let started = Instant::now();
    std::thread::scope(|s| {
        for key in ["bw/a.bin", "bw/b.bin"] {
            let (shared, half) = (&shared, &half);
            s.spawn(move || {
                shared
                    .upload_buffer(&req(), key, half, &UploadOptions::new())
                    .unwrap()
            });
        }
    });
    let took = started.elapsed().as_secs_f64();
    assert_near(
        "seconds for 2 × 4 MiB under a 2 MiB/s client",
        took,
        4.0,
        0.15,
    );
}

/// A reader under a limit, going in one PutObject: the same pacing.
#[test]
fn a_reader_is_paced_too() {
    let emu = Emulator::start().unwrap();
    let client = client_builder(&emu).build().unwrap();
    let data = content(3_000_000, 4);
    let started = Instant::now();
    let out = client
        .upload_reader(
            &req(),
            "bw/reader.bin",
            &data[..],
            3_000_000,
            &UploadOptions::new().limit_rate(2_000_000),
        )
        .unwrap();
    assert_eq!(out.parts, 0);
    assert_near(
        "seconds for 3 MB at 2 MB/s",
        started.elapsed().as_secs_f64(),
        1.5,
        0.15,
    );
}

/// Cancelling wakes a writer waiting for the bucket at once.
#[test]
fn a_cancel_is_not_held_up_by_the_limit() {
    let emu = Emulator::start().unwrap();
    let client = client_builder(&emu).build().unwrap();
    let data = content(5 << 20, 5);
    let options = UploadOptions::new()
        .limit_rate(1 << 20)
        .on_progress(|done, _| ProgressAction::from(done < 1 << 20));
    let started = Instant::now();
    let e = client
        .upload_buffer(&req(), "bw/cancel.bin", &data, &options)
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e}");
    // 1 MiB at 1 MiB/s, then the cancel: far from the 5 s of the whole.
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The traffic limit: refused outside OSS's range before anything is sent,
/// and within it sent with every data request (not the others), signed
/// (the emulator checks every signature) under V1 and under V4.
#[test]
fn the_traffic_limit_is_checked_sent_and_signed() {
    for bad in [1, MIN_TRAFFIC_LIMIT - 1, MAX_TRAFFIC_LIMIT + 1] {
        let e = UploadOptions::new()
            .traffic_limit(bad)
            .validate()
            .unwrap_err();
        assert!(
            e.to_string().contains("traffic limit") && e.to_string().contains("819200"),
            "{e}"
        );
    }
    let data = content(300_000, 6);
    for v4 in [false, true] {
        let emu = if v4 {
            Emulator::builder()
                .oss_region("cn-hangzhou")
                .oss_refuse_v1()
                .start()
                .unwrap()
        } else {
            Emulator::start().unwrap()
        };
        let client = client_builder(&emu).build().unwrap();
        let mut options = UploadOptions::new()
            .part_size(MIN_PART_SIZE)
            .multipart_threshold(MIN_PART_SIZE)
            .traffic_limit(MIN_TRAFFIC_LIMIT);
        if v4 {
            options = options.region("cn-hangzhou");
        }
        let before = emu.requests().len();
        assert!(client
            .upload_buffer(
                &req(),
                "bw/t.bin",
                &data,
                &options.clone().traffic_limit(MAX_TRAFFIC_LIMIT + 1)
            )
            .is_err());
        assert_eq!(emu.requests().len(), before, "nothing sent");
        client
            .upload_buffer(&req(), "bw/t.bin", &data, &options)
            .unwrap();
        client
            .upload_buffer(&req(), "bw/p.bin", &data[..1000], &options)
            .unwrap();
        for r in emu.requests().iter().filter(|r| r.path != "/") {
            let data_request = r.method == "PUT";
            assert_eq!(
                r.header("x-oss-traffic-limit"),
                data_request.then_some("819200"),
                "{} {}?{}",
                r.method,
                r.path,
                r.raw_query
            );
            assert_eq!(r.status, 200);
            if v4 {
                let auth = r.header("authorization").unwrap();
                assert!(auth.starts_with("OSS4-HMAC-SHA256 "), "{auth}");
            }
        }
    }
}

/// The emulator refuses a traffic limit outside OSS's range as OSS does,
/// for a request signed by hand (the library never sends one).
#[test]
fn the_emulator_refuses_a_traffic_limit_outside_the_range() {
    let emu = Emulator::start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let put = |limit: &str| {
        let date = ens_upload_date();
        let headers = [("x-oss-traffic-limit", limit)];
        let resource = oss_canonical_resource(Some(&bucket), "bw/raw.bin", &[]);
        let sig = oss_v1(
            "PUT",
            "",
            "",
            &date,
            &headers,
            &resource,
            emulator::TEST_ACCESS_KEY_SECRET,
        );
        let head = format!(
            "PUT /{bucket}/bw/raw.bin HTTP/1.1\r\nHost: {}\r\nDate: {date}\r\n\
             x-oss-traffic-limit: {limit}\r\nAuthorization: {}\r\nContent-Length: 3\r\n\
             Connection: close\r\n\r\nabc",
            emu.addr(),
            sig.authorization(emulator::TEST_ACCESS_KEY_ID)
        );
        let mut s = TcpStream::connect(emu.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    for bad in ["819199", "838860801", "abc", ""] {
        let answer = put(bad);
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad:?}: {answer}");
        assert!(answer.contains("<Code>InvalidArgument</Code>"), "{answer}");
        assert!(answer.contains("0004-00000502"), "{answer}");
    }
    for good in ["819200", "838860800"] {
        let answer = put(good);
        assert!(answer.starts_with("HTTP/1.1 200"), "{good}: {answer}");
    }
}

/// `Date` for a request signed by hand.
fn ens_upload_date() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    httpdate(now)
}

/// RFC 7231 IMF-fixdate of Unix seconds.
fn httpdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Uploads from memory: multipart on several threads straight from the
/// slice, a part's retry re-reading it, and resuming from a checkpoint with
/// the same bytes (other bytes start over).
#[test]
fn a_buffer_uploads_retries_and_resumes() {
    let emu = Emulator::start().unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .retries(3)
        .retry_base_delay(Duration::from_millis(10))
        .build()
        .unwrap();
    let data = content(1_000_000, 7);
    emu.inject(ens_upload::emulator::Fault::OssResetAfterBytes(5000), 1);
    let options = UploadOptions::new()
        .part_size(MIN_PART_SIZE)
        .multipart_threshold(MIN_PART_SIZE)
        .threads(3);
    let out = client
        .upload_buffer(&req(), "mem/b.bin", &data, &options)
        .unwrap();
    assert_eq!((out.parts, out.size), (10, 1_000_000));
    assert_eq!(out.crc64, ens_upload::crc64::checksum(&data));
    assert_eq!(emu.pending_faults(), 0);

    let dir = common::TempDir::new("bw-buffer-ckpt");
    let ckpt = dir.path().join("b.ckpt");
    let cancelling = options
        .clone()
        .threads(1)
        .checkpoint(&ckpt)
        .on_progress(|done, _| ProgressAction::from(done < 300_000));
    let e = client
        .upload_buffer(&req(), "mem/r.bin", &data, &cancelling)
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e}");
    let resume = options.clone().checkpoint(&ckpt);
    let out = client
        .upload_buffer(&req(), "mem/r.bin", &data, &resume)
        .unwrap();
    assert!(out.resumed_parts >= 2, "{out:?}");
    assert!(!ckpt.exists());
    // Cancelled again, then other bytes: they start over.
    let _ = client
        .upload_buffer(&req(), "mem/r.bin", &data, &cancelling)
        .unwrap_err();
    let mut other = data.clone();
    other[0] ^= 1;
    let out = client
        .upload_buffer(&req(), "mem/r.bin", &other, &resume)
        .unwrap();
    assert_eq!(out.resumed_parts, 0);
    assert_eq!(out.crc64, ens_upload::crc64::checksum(&other));
    assert_eq!(emu.oss_uploads_in_progress(), 0);
}

/// Under a slow limit the callback hears more often than every MiB: a
/// quarter second's worth of bytes, so a progress bar keeps moving.
#[test]
fn a_slow_limit_still_ticks_progress_several_times_a_second() {
    let emu = Emulator::start().unwrap();
    let client = client_builder(&emu).build().unwrap();
    let data = content(400_000, 8);
    let calls = Arc::new(Mutex::new(Vec::<(Instant, u64)>::new()));
    let seen = Arc::clone(&calls);
    let options = UploadOptions::new()
        .limit_rate(200_000)
        .on_progress(move |done, _| {
            seen.lock().unwrap().push((Instant::now(), done));
            ProgressAction::Continue
        });
    client
        .upload_buffer(&req(), "bw/slow.bin", &data, &options)
        .unwrap();
    let calls = calls.lock().unwrap();
    // 400 kB in 50 kB steps: 8, the first call (0) and the last aside.
    assert!(calls.len() >= 8, "{} calls: {calls:?}", calls.len());
    let longest_gap = calls
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0))
        .max()
        .unwrap();
    assert!(
        longest_gap < Duration::from_secs(2),
        "progress went quiet for {longest_gap:?}"
    );
}

/// A throttled transfer is not a stalled one: at 1000 B/s the limiter
/// writes 512 bytes every half second, pauses far longer than a 100 ms
/// stall timeout, and the upload still succeeds (the stall timeout times
/// the socket's reads and writes, not the waits between them).
#[test]
fn pauses_of_the_limiter_longer_than_the_stall_timeout_are_not_a_stall() {
    let emu = Emulator::start().unwrap();
    let client = client_builder(&emu).build().unwrap();
    let data = content(2048, 9);
    let options = UploadOptions::new()
        .limit_rate(1000)
        .stall_timeout(Duration::from_millis(100));
    let started = Instant::now();
    let out = client
        .upload_buffer(&req(), "bw/pauses.bin", &data, &options)
        .unwrap();
    assert_eq!(out.size, 2048);
    // 2048 bytes at 1000 B/s, less the first chunk's credit: over 1.5 s.
    assert!(started.elapsed() > Duration::from_millis(1500));
}
