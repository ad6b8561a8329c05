//! [`EmulatorBuilder`]: the keys, buckets and options an emulator starts with.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use super::issued::{IssuedRegistry, IssuingConfig};
use super::record::{NonceLog, RequestLog};
use super::{
    oss, server, Emulator, KeyState, Shared, DEFAULT_BUCKETS, REQUEST_LOG_LIMIT,
    TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET, TEST_DENIED_KEYS, TEST_SECURITY_TOKEN,
    TEST_STS_ACCESS_KEY_ID, TEST_STS_ACCESS_KEY_SECRET,
};

/// A key the emulator knows.
#[derive(Clone)]
pub(super) struct Key {
    pub(super) secret: String,
    /// The STS token that must come with it, for STS keys.
    pub(super) token: Option<String>,
    pub(super) state: KeyState,
    /// When an issued credential stops being accepted (emulator clock,
    /// Unix seconds); `None` for configured keys, which never expire.
    pub(super) expires_at: Option<i64>,
}

/// Configures an [`Emulator`]; see [`Emulator::builder`].
#[derive(Clone)]
pub struct EmulatorBuilder {
    bind: SocketAddr,
    pub(super) keys: HashMap<String, Key>,
    pub(super) buckets: HashSet<String>,
    oss_endpoint: Option<String>,
    pub(super) host_id: String,
    pub(super) clock_skew_secs: i64,
    request_log_limit: usize,
    /// The region OSS signature V4 must be scoped to (any when `None`).
    pub(super) oss_region: Option<String>,
    /// Refuse OSS signature V1, as buckets made since September 2025 do.
    pub(super) oss_refuse_v1: bool,
    /// Where the OSS side's objects and uploads are kept across runs.
    data_dir: Option<PathBuf>,
    /// How the credentials services issue (`issued.rs`).
    pub(super) issuing: IssuingConfig,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        let mut b = EmulatorBuilder {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys: HashMap::new(),
            buckets: DEFAULT_BUCKETS.iter().map(|s| s.to_string()).collect(),
            oss_endpoint: None,
            host_id: "ens.aliyuncs.com".into(),
            clock_skew_secs: 0,
            request_log_limit: REQUEST_LOG_LIMIT,
            oss_region: None,
            oss_refuse_v1: false,
            data_dir: None,
            issuing: IssuingConfig::default(),
        };
        b = b
            .access_key(TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET)
            .sts(
                TEST_STS_ACCESS_KEY_ID,
                TEST_STS_ACCESS_KEY_SECRET,
                TEST_SECURITY_TOKEN,
            );
        for (id, state) in TEST_DENIED_KEYS {
            b = b.access_key_with_state(*id, TEST_ACCESS_KEY_SECRET, *state);
        }
        b
    }
}

impl EmulatorBuilder {
    /// The address to listen on (default `127.0.0.1:0`: any free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Accepts this AccessKey pair.
    pub fn access_key(self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.access_key_with_state(id, secret, KeyState::Active)
    }

    /// Knows this AccessKey pair, answering every call as `state` says.
    pub fn access_key_with_state(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
        state: KeyState,
    ) -> Self {
        let key = Key {
            secret: secret.into(),
            token: None,
            state,
            expires_at: None,
        };
        self.keys.insert(id.into(), key);
        self
    }

    /// Accepts these STS credentials (the token must come with the key).
    pub fn sts(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        let key = Key {
            secret: secret.into(),
            token: Some(token.into()),
            state: KeyState::Active,
            expires_at: None,
        };
        self.keys.insert(id.into(), key);
        self
    }

    /// Adds a bucket that `PrepareUpload` knows (default: `test`).
    pub fn bucket(mut self, name: impl Into<String>) -> Self {
        self.buckets.insert(name.into());
        self
    }

    /// The `Endpoint` that `PrepareUpload` answers (default: the emulator's
    /// own `host:port`).
    pub fn oss_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.oss_endpoint = Some(endpoint.into());
        self
    }

    /// Runs the emulator's clock this many seconds ahead of the machine's
    /// (negative: behind). It judges `Timestamp`s and sends `Date` by it.
    pub fn clock_skew_secs(mut self, secs: i64) -> Self {
        self.clock_skew_secs = secs;
        self
    }

    /// The region of the OSS side's buckets (a bare region id such as
    /// `cn-hangzhou`): requests signed with OSS signature V4 must be scoped
    /// to it, or are answered 400 `InvalidArgument` ("Invalid signing region
    /// in Authorization header.", EC `0002-00000226`) as OSS does. Without
    /// it any region is accepted.
    pub fn oss_region(mut self, region: impl Into<String>) -> Self {
        self.oss_region = Some(region.into());
        self
    }

    /// Refuses OSS requests signed with signature V1, as OSS does for
    /// accounts made since March 2025 and buckets made since September 2025:
    /// 403 `AccessDenied` with EC `0002-00000080`. Signature V4 still works.
    pub fn oss_refuse_v1(mut self) -> Self {
        self.oss_refuse_v1 = true;
        self
    }

    /// Keeps at most this many requests in [`Emulator::requests`] (default
    /// [`REQUEST_LOG_LIMIT`]): past it the oldest are forgotten, so an
    /// emulator left running holds a bounded amount of memory.
    pub fn request_log_limit(mut self, requests: usize) -> Self {
        self.request_log_limit = requests;
        self
    }

    /// Keeps the OSS side's objects and unfinished multipart uploads (their
    /// parts) in `dir` across runs, so an upload interrupted together with
    /// the emulator resumes against the next one started on `dir`. With the
    /// default bind port (0), it listens on the port the last run on `dir`
    /// used when that port is free: a checkpoint names the endpoint, and
    /// one naming another port starts over. Everything else (the request
    /// log, nonces, faults) is forgotten. Without it the bodies go to a
    /// temporary directory removed when the emulator stops. One directory
    /// serves one emulator at a time (`start` fails while another live
    /// process holds it).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Starts listening and serving on background threads.
    pub fn start(self) -> io::Result<Emulator> {
        let oss = oss::OssStore::open(self.data_dir.as_deref())?;
        let listener = match (&self.data_dir, self.bind.port()) {
            (Some(dir), 0) => oss::saved_port(dir)
                .and_then(|port| TcpListener::bind(SocketAddr::new(self.bind.ip(), port)).ok())
                .map_or_else(|| TcpListener::bind(self.bind), Ok)?,
            _ => TcpListener::bind(self.bind)?,
        };
        let addr = listener.local_addr()?;
        if let Some(dir) = &self.data_dir {
            oss::save_port(dir, addr.port());
        }
        let oss_endpoint = self
            .oss_endpoint
            .clone()
            .unwrap_or_else(|| addr.to_string());
        let requests = RequestLog::new(self.request_log_limit);
        let shared = Arc::new(Shared {
            config: self,
            oss_endpoint,
            stop: AtomicBool::new(false),
            requests: Mutex::new(requests),
            nonces: Mutex::new(NonceLog::default()),
            connections: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            faults: Mutex::new(VecDeque::new()),
            oss_faults: Mutex::new(VecDeque::new()),
            credentials_faults: Mutex::new(VecDeque::new()),
            issued: IssuedRegistry::default(),
            oss,
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("ens-emulator-accept".into())
            .spawn(move || server::accept_loop(listener, accept_shared))?;
        Ok(Emulator {
            addr,
            shared,
            accept: Some(accept),
        })
    }
}
