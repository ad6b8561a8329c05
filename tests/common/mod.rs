//! Helpers shared by the integration tests: local servers and clients
//! here; scratch directories, child processes, external tools and time
//! bounds in the modules below. Each test binary uses some of them.
#![allow(dead_code, unused_imports)]

pub mod child;
pub mod dates;
pub mod temp_dir;
pub mod time_bounds;
pub mod tools;

pub use child::{
    cargo_build, cargo_profile, cargo_rustc, profile_dir, run, without_cargo_test_env, Ran,
};
pub use temp_dir::TempDir;
pub use time_bounds::{within, EVENT_WAIT, MARGIN};
pub use tools::require_tool;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use ens_upload::emulator::Emulator;
use ens_upload::{Client, Credentials};

/// Deterministic, non-repeating bytes (so a misplaced part shows).
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A client for `emu` with the given credentials and short timeouts.
pub fn client_for(emu: &Emulator, creds: Credentials) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(creds)
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(5))
        .build()
        .expect("client builds")
}

/// A client for `emu` whose credentials come from `provider`.
pub fn client_with_provider(
    emu: &Emulator,
    provider: impl ens_upload::CredentialsProvider + 'static,
) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials_provider(provider)
        .build()
        .expect("client builds")
}

/// `PrepareUpload` of bucket `test`, its answer dropped.
pub fn prepare_test(client: &Client) -> ens_upload::Result<()> {
    client
        .prepare_upload(&ens_upload::PrepareUploadRequest::new("test"))
        .map(|_| ())
}

/// Serves `response` (raw HTTP bytes) to each of the next `count` connections,
/// after reading the request head. Returns the endpoint URL.
pub fn canned_server(response: Vec<u8>, count: usize) -> String {
    canned_server_recording(response, count).0
}

/// As [`canned_server`], also handing over each request head received.
pub fn canned_server_recording(
    response: Vec<u8>,
    count: usize,
) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
            let _ = s.write_all(&response);
            let _ = s.flush();
        }
    });
    (format!("http://{addr}"), rx)
}

/// Sends raw HTTP bytes to `addr` and returns the raw answer (until close).
pub fn raw_exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A full HTTP response with a Content-Length.
pub fn http_response(status_line: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status_line}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A client for a canned server (any credentials do), without retries so
/// each canned answer is seen as is.
pub fn client_at(endpoint: &str) -> Client {
    Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::access_key("id", "SECRET-DO-NOT-LEAK"))
        .read_timeout(Duration::from_secs(5))
        .retries(0)
        .build()
        .unwrap()
}

/// The part numbers a resume checkpoint lists, or `None` when the file is
/// missing or not one: those of its header line, then one per whole record
/// line (`p <number> ...`) appended since.
pub fn checkpoint_parts(path: &std::path::Path) -> Option<Vec<u32>> {
    let text = String::from_utf8(std::fs::read(path).ok()?).ok()?;
    let (header, records) = text.split_once('\n')?;
    let json: serde_json::Value = serde_json::from_str(header).ok()?;
    let mut parts: Vec<u32> = json["parts"]
        .as_array()?
        .iter()
        .filter_map(|p| p["number"].as_u64())
        .map(|n| n as u32)
        .collect();
    let whole = records.rsplit_once('\n').map_or("", |(whole, _)| whole);
    for line in whole.lines() {
        parts.push(line.strip_prefix("p ")?.split(' ').next()?.parse().ok()?);
    }
    Some(parts)
}

/// The UploadId a resume checkpoint names (in its header line).
pub fn checkpoint_upload_id(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let header = text.lines().next().unwrap();
    let json: serde_json::Value = serde_json::from_str(header).unwrap();
    json["upload_id"].as_str().unwrap().to_owned()
}

/// The emulator's clock as an HTTP `Date`, for requests signed by hand.
pub fn emulator_date(emu: &Emulator) -> String {
    let probe = raw_exchange(
        emu.addr(),
        "HEAD /nothing/here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    probe
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .expect("a Date header")
        .trim()
        .to_owned()
}
