//! The blocking client: one builder, one shared connection pool, one call
//! path for ENS (`rpc`) and one for uploads (`crate::upload`).

mod rpc;
mod tls;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::ClockOffset;
use crate::credentials::{
    CredentialCache, Credentials, CredentialsProvider, DefaultCredentialsChain, RamRoleArnProvider,
};
use crate::error::{Error, Result};
use crate::http::{CachingResolver, Endpoint, ProxySetting, RetryPolicy, Session};
use crate::prepare_upload::{PrepareUploadRequest, PrepareUploadResponse};
use crate::upload::{self, UploadOptions, UploadResult};

pub use crate::http::{MAX_RESPONSE_BYTES, MAX_TIMEOUT};
pub use tls::TLS_BACKEND;

use tls::CaChoice;

/// The ENS API version this client speaks.
pub const API_VERSION: &str = "2017-11-10";
/// The endpoint used when none is set.
pub const DEFAULT_ENDPOINT: &str = "https://ens.aliyuncs.com";
/// `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("ens-upload/", env!("CARGO_PKG_VERSION"), " (Rust)");

/// How the client signs its ENS calls; see [`ClientBuilder::signature`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Signature {
    /// RPC signature 1.0 (HMAC-SHA1, everything in the query): the default,
    /// accepted by ENS 2017-11-10 and byte for byte what the classic SDKs send.
    #[default]
    RpcV1,
    /// Signature V3 (`ACS3-HMAC-SHA256`, common parameters in signed
    /// `x-acs-*` headers): what the current official (Tea) SDKs send.
    Acs3HmacSha256,
}

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: String,
    credentials: Option<Credentials>,
    provider: Option<Arc<dyn CredentialsProvider>>,
    profile: Option<String>,
    /// AssumeRole this role with the credentials above (or the chain's).
    role_arn: Option<String>,
    role_session_name: Option<String>,
    sts_endpoint: Option<String>,
    ecs_metadata_endpoint: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
    call_timeout: Duration,
    proxy: ProxySetting,
    ca: CaChoice,
    max_idle_connections: usize,
    retry: RetryPolicy,
    signature: Signature,
    limit_rate: Option<u64>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxy = self.proxy.describe();
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("provider", &self.provider)
            .field("profile", &self.profile)
            .field("role_arn", &self.role_arn)
            .field("sts_endpoint", &self.sts_endpoint)
            .field("ecs_metadata_endpoint", &self.ecs_metadata_endpoint)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("proxy", &proxy)
            .field("ca", &self.ca)
            .field("retry", &self.retry)
            .field("signature", &self.signature)
            .field("limit_rate", &self.limit_rate)
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            credentials: None,
            provider: None,
            profile: None,
            role_arn: None,
            role_session_name: None,
            sts_endpoint: None,
            ecs_metadata_endpoint: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            proxy: ProxySetting::FromEnv,
            ca: CaChoice::default(),
            max_idle_connections: 8,
            retry: RetryPolicy::default(),
            signature: Signature::default(),
            limit_rate: None,
        }
    }
}

impl ClientBuilder {
    /// The API endpoint, `http(s)://host[:port]` (default `https://ens.aliyuncs.com`).
    /// Plain `http` is allowed, for emulators and TLS-terminating proxies.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The credentials to sign with. Without this (or a
    /// [`credentials_provider`](ClientBuilder::credentials_provider)),
    /// `build()` runs the default chain ([`DefaultCredentialsChain`]).
    /// Credentials with an expiry cannot be refreshed: give a provider for
    /// those. Replaces an earlier provider.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self.provider = None;
        self
    }

    /// Where the client gets its credentials, again before they expire
    /// (see [`CredentialsProvider`]). Shared by all clones of the client;
    /// replaces earlier credentials.
    pub fn credentials_provider(mut self, provider: impl CredentialsProvider + 'static) -> Self {
        self.provider = Some(Arc::new(provider));
        self.credentials = None;
        self
    }

    /// Signs with a RAM role's credentials: STS `AssumeRole` of `role_arn`
    /// (`acs:ram::<account>:role/<name>`), signed with the credentials
    /// otherwise in use (given, a provider's or the default chain's), and
    /// refreshed before they expire. See [`RamRoleArnProvider`](crate::RamRoleArnProvider)
    /// for more settings.
    pub fn role_arn(mut self, role_arn: impl Into<String>) -> Self {
        self.role_arn = Some(role_arn.into());
        self
    }

    /// The `RoleSessionName` for [`role_arn`](ClientBuilder::role_arn)
    /// (2 to 64 of `[A-Za-z0-9.@_-]`; default `ens-upload-<unix time>`).
    pub fn role_session_name(mut self, name: impl Into<String>) -> Self {
        self.role_session_name = Some(name.into());
        self
    }

    /// The STS URL for [`role_arn`](ClientBuilder::role_arn) and the default
    /// chain's roles, instead of `ALIBABA_CLOUD_STS_ENDPOINT`,
    /// `ALIBABA_CLOUD_STS_REGION` or `https://sts.aliyuncs.com`. Ours, for
    /// tests, private clouds and gateways (`http://` allowed).
    pub fn sts_endpoint(mut self, url: impl Into<String>) -> Self {
        self.sts_endpoint = Some(url.into());
        self
    }

    /// The ECS metadata server the default chain asks, instead of
    /// `ALIBABA_CLOUD_ECS_METADATA_ENDPOINT` or `http://100.100.100.200`.
    /// Ours, for tests and gateways.
    pub fn ecs_metadata_endpoint(mut self, url: impl Into<String>) -> Self {
        self.ecs_metadata_endpoint = Some(url.into());
        self
    }

    /// When no credentials are given: the profile the default chain reads
    /// from the credentials file and `config.json`.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Time allowed to resolve and connect, TLS included (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed to wait for the response headers, and again for its
    /// body (default 10 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Overall limit for one call: every attempt and every wait between
    /// them (default 30 s).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How many times a failed call is tried again (default 3; 0 turns
    /// retries off). Retried: failed name lookups, connection failures and
    /// timeouts, HTTP 5xx,
    /// `Throttling*` and `ServiceUnavailable`. Every attempt is signed anew.
    pub fn retries(mut self, max_retries: u32) -> Self {
        self.retry.max_retries = max_retries;
        self
    }

    /// The first backoff ceiling (default 200 ms); it doubles with every
    /// retry, and the wait is drawn at random below it ("full jitter").
    pub fn retry_base_delay(mut self, delay: Duration) -> Self {
        self.retry.base_delay = delay;
        self
    }

    /// The largest backoff ceiling (default 5 s).
    pub fn retry_max_delay(mut self, delay: Duration) -> Self {
        self.retry.max_delay = delay;
        self
    }

    /// Sends every request through this HTTP proxy (`http://[user:pass@]host:port`),
    /// ignoring the environment.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxySetting::Url(url.into());
        self
    }

    /// Never uses a proxy, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySetting::Off;
        self
    }

    /// Also trusts the certificates in this PEM file (e.g. a corporate
    /// TLS-inspecting proxy's CA). Each call adds a file; the bundled roots
    /// stay unless [`ca_file_only`](Self::ca_file_only) was called.
    pub fn add_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca.files.push(path.into());
        self
    }

    /// Trusts only the certificates in this PEM file (and any added after
    /// it with [`add_ca_file`](Self::add_ca_file)), not the bundled roots.
    pub fn ca_file_only(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = CaChoice {
            backend_roots: false,
            files: vec![path.into()],
        };
        self
    }

    /// How ENS calls are signed (default [`Signature::RpcV1`]). Retries,
    /// clock-skew correction and errors behave the same with either.
    pub fn signature(mut self, signature: Signature) -> Self {
        self.signature = signature;
        self
    }

    /// How many idle keep-alive connections the pool keeps (default 8).
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle_connections = n;
        self
    }

    /// Caps the upload bandwidth of this client at `bytes_per_second`: one
    /// token bucket shared by every upload it (and its clones) runs, on all
    /// their threads, so the device's uplink keeps room for its own
    /// traffic. An upload's own [`UploadOptions::limit_rate`] applies on top
    /// of it. `0` (the default) sets no limit.
    pub fn limit_rate(mut self, bytes_per_second: u64) -> Self {
        self.limit_rate = (bytes_per_second > 0).then_some(bytes_per_second);
        self
    }

    /// Checks the configuration and builds the client.
    ///
    /// Fails on an invalid endpoint URL, proxy URL or CA file, and when no
    /// credentials were given and the default chain finds none offline
    /// with neither of its network steps (the ECS RAM role, the
    /// credentials URI) on; those are asked at the first request.
    pub fn build(self) -> Result<Client> {
        let endpoint = Endpoint::parse(&self.endpoint)?;
        let credentials = self.credential_cache()?;
        for (name, d) in [
            ("connect timeout", self.connect_timeout),
            ("read timeout", self.read_timeout),
            ("call timeout", self.call_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::config(format!("{name} must be above zero")));
            }
            if d > MAX_TIMEOUT {
                return Err(Error::config(format!(
                    "{name} must be at most {} s (one day), not {d:?}",
                    MAX_TIMEOUT.as_secs()
                )));
            }
        }

        self.retry.validate()?;
        let proxy = self.proxy.resolve(&endpoint)?;

        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .accept("application/json")
            .timeout_resolve(Some(self.connect_timeout))
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_recv_body(Some(self.read_timeout))
            .timeout_global(Some(self.call_timeout))
            .max_idle_connections(self.max_idle_connections)
            .max_idle_connections_per_host(self.max_idle_connections)
            .proxy(proxy);
        let config = tls::apply(config, &endpoint, &self.ca)?.build();
        log::debug!(
            "client built for {} with credentials from {}",
            endpoint.as_str(),
            credentials.describe()
        );

        Ok(Client {
            inner: Arc::new(Inner {
                session: Session {
                    agent: ureq::Agent::with_parts(
                        config,
                        crate::http::connector(),
                        CachingResolver::default(),
                    ),
                    clock: ClockOffset::default(),
                    retry: self.retry,
                    call_timeout: self.call_timeout,
                    proxy: self.proxy.clone(),
                },
                endpoint,
                credentials,
                signature: self.signature,
                limit: self.limit_rate.map(upload::RateLimit::new),
            }),
        })
    }
}

impl ClientBuilder {
    /// The default chain with this builder's profile and endpoints: the
    /// environment and files are read now, the network asked later.
    fn default_chain(&self) -> Result<DefaultCredentialsChain> {
        let mut chain = DefaultCredentialsChain::builder();
        if let Some(p) = &self.profile {
            chain = chain.profile(p.clone());
        }
        if let Some(url) = &self.sts_endpoint {
            chain = chain.sts_endpoint(url.clone());
        }
        if let Some(url) = &self.ecs_metadata_endpoint {
            chain = chain.ecs_metadata_endpoint(url.clone());
        }
        chain.build()
    }

    /// The credentials the client will hold: fixed ones (no lock, no
    /// refresh), or a provider's behind the refreshing cache.
    fn credential_cache(&self) -> Result<CredentialCache> {
        let cache = match (&self.credentials, &self.provider) {
            (Some(c), _) if c.expires_at().is_none() => {
                c.validate()?;
                CredentialCache::fixed(c.clone())
            }
            (Some(c), _) => CredentialCache::from_provider(Arc::new(c.clone())),
            (None, Some(p)) => CredentialCache::from_provider(p.clone()),
            (None, None) => {
                let chain = self.default_chain()?;
                match chain.fixed_credentials() {
                    Some(found) => {
                        found.validate()?;
                        CredentialCache::fixed(found.clone())
                    }
                    None => CredentialCache::from_provider(Arc::new(chain)),
                }
            }
        };
        let Some(role_arn) = &self.role_arn else {
            return Ok(cache);
        };
        if !role_arn.starts_with("acs:ram::") || role_arn.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "RoleArn",
                "must look like acs:ram::<account id>:role/<role name> (ClientBuilder::role_arn, \
                 ens_client_builder_set_role_arn)",
            ));
        }
        let mut role = RamRoleArnProvider::new(Arc::new(cache), role_arn.clone());
        if let Some(name) = &self.role_session_name {
            crate::credentials::check_session_name(name)?;
            role = role.role_session_name(name.clone());
        }
        if let Some(url) = &self.sts_endpoint {
            Endpoint::parse(url).map_err(|e| Error::config(format!("sts_endpoint: {e}")))?;
            role = role.sts_endpoint(url.clone());
        }
        Ok(CredentialCache::from_provider(Arc::new(role)))
    }
}

/// A blocking ENS client. Cheap to clone (one `Arc`), `Send + Sync`, and
/// reusing keep-alive connections across clones and threads.
///
/// ```no_run
/// use ens_upload::{Client, Credentials, PrepareUploadRequest};
/// let client = Client::builder()
///     .credentials(Credentials::access_key("LTAI...", "secret"))
///     .build()?;
/// let out = client.prepare_upload(&PrepareUploadRequest::new("test").client_ip("180.166.1.2"))?;
/// println!("{} {} {}", out.request_id, out.bucket_name, out.endpoint);
/// # Ok::<(), ens_upload::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    endpoint: Endpoint,
    credentials: CredentialCache,
    signature: Signature,
    /// The bandwidth limit all uploads share.
    limit: Option<Arc<upload::RateLimit>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("credentials", &self.inner.credentials.describe())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the defaults: `https://ens.aliyuncs.com`, credentials
    /// from the default chain, connect 5 s, read 10 s, call 30 s, proxy from
    /// the environment, bundled root certificates.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The endpoint this client sends to, e.g. `https://ens.aliyuncs.com`.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// The credentials this client signs with, when it was given (or the
    /// default chain found) fixed ones. With credentials from a provider,
    /// which change as they are refreshed, this is only a description:
    /// empty AccessKey id and secret, [`Credentials::source`] naming the
    /// provider; use [`Client::current_credentials`] or
    /// [`Client::credentials_source`] instead.
    pub fn credentials(&self) -> &Credentials {
        self.inner.credentials.fixed_or_description()
    }

    /// Where this client's credentials come from, e.g. `environment` or
    /// `AssumeRole acs:ram::123:role/uploader (source: environment)`; for
    /// the default chain, once it has fetched, the step that answered.
    /// Never a secret.
    pub fn credentials_source(&self) -> String {
        self.inner.credentials.source()
    }

    /// The credentials the next request would sign with, fetched or
    /// refreshed first when due (as a request would). Their `Debug` shows
    /// no secret.
    pub fn current_credentials(&self) -> Result<Credentials> {
        let current = self.inner.credentials.get(&self.inner.session)?;
        Ok(current.creds.clone())
    }

    /// Asks ENS where to upload (`PrepareUpload`).
    ///
    /// The request is checked first ([`PrepareUploadRequest::validate`]); bad
    /// input is an [`Error::InvalidInput`] and nothing is sent.
    pub fn prepare_upload(&self, request: &PrepareUploadRequest) -> Result<PrepareUploadResponse> {
        request.validate()?;
        let out: PrepareUploadResponse =
            rpc::call(&self.inner, "PrepareUpload", &request.params())?;
        // The answer goes to callers who build URLs and headers from it:
        // the same checks as the upload path, wherever it is returned.
        upload::check_prepared(&out.bucket_name, &out.endpoint)?;
        Ok(out)
    }

    /// Signs and sends any ENS 2017-11-10 RPC action and returns its JSON
    /// answer. `params` are the action's own parameters; the client adds
    /// the common ones (`Action`, `Version`, `Timestamp`, `Signature`...)
    /// and refuses them from the caller.
    pub fn call<K: AsRef<str>, V: AsRef<str>>(
        &self,
        action: &str,
        params: &[(K, V)],
    ) -> Result<serde_json::Value> {
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        rpc::call(&self.inner, action, &params)
    }

    /// How many seconds the server's clock is ahead of this machine's (negative
    /// when behind), as learned from `Date` headers. Every call signs its
    /// `Timestamp` with this correction; clones of a client share it.
    pub fn clock_offset(&self) -> i64 {
        self.inner.session.clock.get()
    }

    /// Asks `PrepareUpload` where to upload, then uploads the file at `path`
    /// there as `key`; see the [module documentation](crate::upload).
    ///
    /// Errors: bad options or key are [`Error::InvalidInput`] and a file
    /// that cannot be read is [`Error::LocalIo`], both before anything is
    /// sent; then any error of `PrepareUpload` and of the OSS calls (as
    /// [`Error::Api`], with OSS's code, message and request id),
    /// [`Error::Integrity`] and [`Error::Cancelled`].
    pub fn upload_file(
        &self,
        request: &PrepareUploadRequest,
        key: &str,
        path: impl AsRef<Path>,
        options: &UploadOptions,
    ) -> Result<UploadResult> {
        let prepare = |r: &PrepareUploadRequest| self.prepare_upload(r);
        upload::upload_file(
            &self.uploader(&prepare),
            request,
            key,
            path.as_ref(),
            options,
        )
    }

    /// As [`Client::upload_file`], from a reader of exactly `size` bytes.
    ///
    /// The reader is read once, in order. Going multipart, each part is
    /// buffered (`part_size` bytes per thread) so a failed part can be sent
    /// again; in one PutObject the reader streams straight to the server,
    /// so that request is retried only if it failed before the first byte
    /// was read. A reader shorter or longer than `size` is an
    /// [`Error::LocalIo`] and the object is not stored. A checkpoint needs
    /// a file: with one set this is an [`Error::InvalidInput`].
    pub fn upload_reader<R: Read + Send>(
        &self,
        request: &PrepareUploadRequest,
        key: &str,
        reader: R,
        size: u64,
        options: &UploadOptions,
    ) -> Result<UploadResult> {
        let prepare = |r: &PrepareUploadRequest| self.prepare_upload(r);
        upload::upload_reader(
            &self.uploader(&prepare),
            request,
            key,
            reader,
            size,
            options,
        )
    }

    /// As [`Client::upload_file`], from bytes in memory (a clip or a log a
    /// device captured), without writing them to flash first.
    ///
    /// `data` is only borrowed, never copied: every part (and every retry
    /// of one) is read from it, so multipart uploads on several threads
    /// and resuming work as for a file. With a checkpoint, a later call
    /// with the same bytes (same size, and the same bytes in every part
    /// the checkpoint lists as done) resumes; other bytes start over.
    ///
    /// ```no_run
    /// use ens_upload::{Client, PrepareUploadRequest, UploadOptions};
    /// let client = Client::builder().build()?;
    /// let clip: Vec<u8> = vec![0; 3 << 20];
    /// let out = client.upload_buffer(
    ///     &PrepareUploadRequest::new("test"),
    ///     "clips/1.bin",
    ///     &clip,
    ///     &UploadOptions::new().limit_rate(512 << 10),
    /// )?;
    /// assert_eq!(out.size, 3 << 20);
    /// # Ok::<(), ens_upload::Error>(())
    /// ```
    pub fn upload_buffer(
        &self,
        request: &PrepareUploadRequest,
        key: &str,
        data: &[u8],
        options: &UploadOptions,
    ) -> Result<UploadResult> {
        let prepare = |r: &PrepareUploadRequest| self.prepare_upload(r);
        upload::upload_buffer(&self.uploader(&prepare), request, key, data, options)
    }

    /// What an upload needs of this client: its session, its endpoint's
    /// scheme, and a way to ask ENS where to upload.
    fn uploader<'a>(
        &'a self,
        prepare: &'a dyn Fn(&PrepareUploadRequest) -> Result<PrepareUploadResponse>,
    ) -> upload::Uploader<'a> {
        upload::Uploader {
            session: &self.inner.session,
            credentials: &self.inner.credentials,
            endpoint: &self.inner.endpoint,
            prepare,
            limit: self.inner.limit.as_ref(),
        }
    }
}
