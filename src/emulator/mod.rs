//! A local ENS endpoint for tests and for devices under development
//! (feature `emulator`).
//!
//! It runs on plain std threads on `127.0.0.1`, checks requests the way the
//! service does (signature 1.0, a Timestamp within 15 minutes, a nonce never
//! seen before, known AccessKeys and STS tokens), answers `PrepareUpload`
//! with the reference's response shape and error codes, and records the
//! requests it saw (the most recent [`REQUEST_LOG_LIMIT`]).
//!
//! ```
//! use ens_upload::{emulator::Emulator, Client, PrepareUploadRequest};
//! let emu = Emulator::start()?;
//! let client = Client::builder()
//!     .endpoint(emu.endpoint())
//!     .credentials(emu.credentials())
//!     .build()?;
//! let out = client.prepare_upload(&PrepareUploadRequest::new("test"))?;
//! assert!(out.bucket_name.starts_with("test-"));
//! assert_eq!(emu.requests().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! It is split by concern: [`EmulatorBuilder`] (`builder.rs`), the HTTP
//! wire (`http.rs`) and connection loop (`server.rs`), injected [`Fault`]s
//! (`fault.rs`), the request log and nonce memory (`record.rs`), the RPC
//! API (`rpc.rs`, signature V3 in `acs3.rs`, the action in
//! `prepare_upload.rs`) and the OSS side (`oss/`). The credentials
//! services share the port: STS (`sts.rs`), the ECS metadata paths and the
//! credentials URI (`metadata.rs`), handing out the credentials kept in
//! `issued.rs`.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Credentials;

mod acs3;
mod builder;
mod fault;
mod http;
mod issued;
mod metadata;
mod oss;
mod prepare_upload;
mod record;
mod rpc;
mod server;
mod sts;

pub use builder::EmulatorBuilder;
pub use fault::Fault;
pub use issued::{IssuedBy, DEFAULT_ECS_ROLE_NAME, DEFAULT_ISSUED_LIFETIME};
pub use oss::StoredObject;
pub use record::RecordedRequest;

/// AccessKey id the emulator accepts by default.
pub const TEST_ACCESS_KEY_ID: &str = "LTAIEmulatorTestKeyId";
/// AccessKey secret of [`TEST_ACCESS_KEY_ID`].
pub const TEST_ACCESS_KEY_SECRET: &str = "EmulatorTestSecret";
/// STS AccessKey id the emulator accepts by default.
pub const TEST_STS_ACCESS_KEY_ID: &str = "STS.EmulatorTestKeyId";
/// STS secret of [`TEST_STS_ACCESS_KEY_ID`].
pub const TEST_STS_ACCESS_KEY_SECRET: &str = "EmulatorStsSecret";
/// Security token of [`TEST_STS_ACCESS_KEY_ID`].
pub const TEST_SECURITY_TOKEN: &str = "CAIS+EmulatorToken/with=chars";
/// Keys that exist but whose every call fails with the named code; they all
/// use [`TEST_ACCESS_KEY_SECRET`].
pub const TEST_DENIED_KEYS: &[(&str, KeyState)] = &[
    ("LTAIEmulatorAccessDenied", KeyState::AccessDenied),
    ("LTAIEmulatorUserDisable", KeyState::UserDisable),
    ("LTAIEmulatorNoPermission", KeyState::NoPermission),
];
/// Buckets that exist by default.
pub const DEFAULT_BUCKETS: &[&str] = &["test"];

/// How long a Timestamp may be away from the emulator's clock.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(15 * 60);
/// How many requests [`Emulator::requests`] keeps by default: the most
/// recent ones (about 3 KB each). See [`EmulatorBuilder::request_log_limit`].
pub const REQUEST_LOG_LIMIT: usize = 10_000;

/// What happens to every call made with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyState {
    /// Calls go through.
    Active,
    /// 403 `AccessDenied`.
    AccessDenied,
    /// 403 `UserDisable` (account in arrears).
    UserDisable,
    /// 400 `NoPermission`.
    NoPermission,
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// An emulator with the default keys and buckets.
    pub fn start() -> io::Result<Emulator> {
        EmulatorBuilder::default().start()
    }

    /// A builder starting from the default keys and buckets.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its endpoint URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The default AccessKey credentials it accepts.
    pub fn credentials(&self) -> Credentials {
        Credentials::access_key(TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET)
    }

    /// The default STS credentials it accepts.
    pub fn sts_credentials(&self) -> Credentials {
        Credentials::sts(
            TEST_STS_ACCESS_KEY_ID,
            TEST_STS_ACCESS_KEY_SECRET,
            TEST_SECURITY_TOKEN,
        )
    }

    /// The requests seen so far, oldest first: every one, or the most
    /// recent [`REQUEST_LOG_LIMIT`] (see [`EmulatorBuilder::request_log_limit`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).to_vec()
    }

    /// Plays `fault` for each of the next `times` requests, after any
    /// faults already queued (OSS faults: the next OSS writes, see
    /// [`Fault::is_oss`]; credentials faults such as
    /// [`Fault::CredentialsService`]: the next calls to those services).
    pub fn inject(&self, fault: Fault, times: usize) {
        let queue = if fault.is_oss() {
            &self.shared.oss_faults
        } else if fault.is_credentials() {
            &self.shared.credentials_faults
        } else {
            &self.shared.faults
        };
        lock(queue).extend(std::iter::repeat_n(fault, times));
    }

    /// Drops every injected fault not played yet.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        lock(&self.shared.oss_faults).clear();
        lock(&self.shared.credentials_faults).clear();
    }

    /// How many injected faults have not been played yet.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
            + lock(&self.shared.oss_faults).len()
            + lock(&self.shared.credentials_faults).len()
    }

    /// Forgets the recorded requests (not the nonces).
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Stops accepting and waits for the accept thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        self.shared.oss.remove_files();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the serving threads share.
struct Shared {
    config: EmulatorBuilder,
    oss_endpoint: String,
    stop: AtomicBool,
    requests: Mutex<record::RequestLog>,
    nonces: Mutex<record::NonceLog>,
    connections: AtomicU64,
    accepted: AtomicU64,
    faults: Mutex<VecDeque<Fault>>,
    /// Faults for the OSS side (see [`Fault::is_oss`]).
    oss_faults: Mutex<VecDeque<Fault>>,
    /// Faults for the credentials services (see [`Fault::is_credentials`]).
    credentials_faults: Mutex<VecDeque<Fault>>,
    /// Credentials the credentials services issued.
    issued: issued::IssuedRegistry,
    /// Objects and multipart uploads of the OSS side.
    oss: oss::OssStore,
}

impl Shared {
    /// The emulator's clock, skewed as configured.
    fn now(&self) -> i64 {
        crate::clock::unix_now().saturating_add(self.config.clock_skew_secs)
    }

    /// The next queued fault for `service`, unwrapped (faults for other
    /// services stay queued, in order).
    fn credentials_fault(&self, service: fault::CredentialsService) -> Option<Fault> {
        let mut queue = lock(&self.credentials_faults);
        let at = queue
            .iter()
            .position(|f| f.for_service(service).is_some())?;
        queue
            .remove(at)
            .and_then(|f| f.for_service(service).cloned())
    }
}

/// A poisoned lock only means a handler thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
