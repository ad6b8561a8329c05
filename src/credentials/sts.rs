//! STS: `AssumeRole` (a RAM role, signed by a source credential) and
//! `AssumeRoleWithOIDC` (RRSA: a role for an OIDC token, not signed).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{HeaderName, HeaderValue};

use crate::error::{Error, Result};

use super::service::{self, IssuedCredentials, ServiceCall};
use super::{CredentialCache, Credentials, CredentialsProvider, Env, FetchContext, ProcessEnv};

/// STS's API version.
const STS_VERSION: &str = "2015-04-01";
/// STS's public endpoint.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.aliyuncs.com";
/// Ours, for tests, private clouds and gateways: the STS URL, `http://` allowed.
pub const ENV_STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";
/// The region whose STS endpoint to use (`sts.<region>.aliyuncs.com`).
pub const ENV_STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
/// `true`: the region's VPC endpoint (`sts-vpc.<region>.aliyuncs.com`).
pub const ENV_VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";
/// Environment variables of the OIDC role (RRSA).
pub const ENV_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
/// See [`ENV_ROLE_ARN`].
pub const ENV_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
/// See [`ENV_ROLE_ARN`].
pub const ENV_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
/// See [`ENV_ROLE_ARN`].
pub const ENV_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";

/// The default role lifetime, and the shortest STS grants.
const DEFAULT_DURATION_SECS: u32 = 3600;
const MIN_DURATION_SECS: u32 = 900;
/// How long one STS call may take, retries included.
const STS_TIMEOUT: Duration = Duration::from_secs(10);
/// The most an OIDC token file may hold.
const MAX_OIDC_TOKEN_BYTES: u64 = 64 << 10;

/// The STS URL: `explicit`, else [`ENV_STS_ENDPOINT`], else the region's
/// ([`ENV_STS_REGION`], VPC with [`ENV_VPC_ENDPOINT_ENABLED`]), else
/// [`DEFAULT_STS_ENDPOINT`].
pub(crate) fn sts_endpoint(explicit: Option<&str>, env: &dyn Env) -> Result<String> {
    if let Some(url) = explicit {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    if let Some(url) = env.var(ENV_STS_ENDPOINT)? {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    match env.var(ENV_STS_REGION)? {
        Some(region) => {
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(Error::credentials(format!(
                    "{ENV_STS_REGION} must be a region id such as cn-hangzhou, not {region:?}"
                )));
            }
            let vpc = env
                .var(ENV_VPC_ENDPOINT_ENABLED)?
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let host = if vpc { "sts-vpc" } else { "sts" };
            Ok(format!("https://{host}.{region}.aliyuncs.com"))
        }
        None => Ok(DEFAULT_STS_ENDPOINT.to_owned()),
    }
}

/// Checks a role session name: 2 to 64 of `[A-Za-z0-9.@_-]`.
pub(crate) fn check_session_name(name: &str) -> Result<()> {
    let ok = (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "RoleSessionName",
            format!("must be 2 to 64 of A-Z a-z 0-9 . @ _ -, not {name:?}"),
        ))
    }
}

fn check_duration(secs: u32) -> Result<()> {
    if secs < MIN_DURATION_SECS {
        return Err(Error::invalid_input(
            "DurationSeconds",
            format!("must be at least {MIN_DURATION_SECS} (STS's minimum), not {secs}"),
        ));
    }
    Ok(())
}

fn default_session_name(ctx: &FetchContext<'_>) -> String {
    format!("ens-upload-{}", ctx.session.clock.now())
}

/// The settings both role providers share.
#[derive(Clone)]
struct RoleSettings {
    role_arn: String,
    session_name: Option<String>,
    duration_secs: u32,
    policy: Option<String>,
    sts_endpoint: Option<String>,
}

impl RoleSettings {
    fn new(role_arn: String) -> RoleSettings {
        RoleSettings {
            role_arn,
            session_name: None,
            duration_secs: DEFAULT_DURATION_SECS,
            policy: None,
            sts_endpoint: None,
        }
    }

    /// The action's own parameters, checked.
    fn params(&self, ctx: &FetchContext<'_>) -> Result<Vec<(&'static str, String)>> {
        if self.role_arn.is_empty() {
            return Err(Error::invalid_input("RoleArn", "is empty"));
        }
        let session_name = self
            .session_name
            .clone()
            .unwrap_or_else(|| default_session_name(ctx));
        check_session_name(&session_name)?;
        check_duration(self.duration_secs)?;
        let mut params = vec![
            ("RoleArn", self.role_arn.clone()),
            ("RoleSessionName", session_name),
            ("DurationSeconds", self.duration_secs.to_string()),
        ];
        if let Some(p) = &self.policy {
            params.push(("Policy", p.clone()));
        }
        Ok(params)
    }
}

/// Optional role settings, as a profile file gives them.
#[derive(Default)]
pub(crate) struct RoleOptions {
    pub(crate) session_name: Option<String>,
    pub(crate) duration_secs: Option<u32>,
    pub(crate) policy: Option<String>,
    pub(crate) sts_endpoint: Option<String>,
}

/// The settings both role providers share, as builder methods.
macro_rules! role_setters {
    () => {
        /// `RoleSessionName`: 2 to 64 of `[A-Za-z0-9.@_-]` (shown in the
        /// role's audit logs; default `ens-upload-<unix time>`).
        pub fn role_session_name(mut self, name: impl Into<String>) -> Self {
            self.settings.session_name = Some(name.into());
            self
        }

        /// `DurationSeconds`: from 900 up to the role's maximum (default 3600).
        pub fn duration_seconds(mut self, secs: u32) -> Self {
            self.settings.duration_secs = secs;
            self
        }

        /// A policy (JSON) narrowing the role's permissions.
        pub fn policy(mut self, policy: impl Into<String>) -> Self {
            self.settings.policy = Some(policy.into());
            self
        }

        /// The STS URL (e.g. `https://sts.cn-hangzhou.aliyuncs.com`, or an
        /// `http://` one for tests and private clouds).
        pub fn sts_endpoint(mut self, url: impl Into<String>) -> Self {
            self.settings.sts_endpoint = Some(url.into());
            self
        }

        /// The settings a profile gave, each only where it gave one.
        pub(crate) fn with_options(mut self, o: RoleOptions) -> Self {
            let s = &mut self.settings;
            s.session_name = o.session_name.or(s.session_name.take());
            s.duration_secs = o.duration_secs.unwrap_or(s.duration_secs);
            s.policy = o.policy.or(s.policy.take());
            s.sts_endpoint = o.sts_endpoint.or(s.sts_endpoint.take());
            self
        }
    };
}

/// Credentials for a RAM role, from STS `AssumeRole` signed by a source
/// credential (an AccessKey, or STS credentials for a chained role);
/// refreshed before they expire.
///
/// ```
/// use ens_upload::{Credentials, RamRoleArnProvider};
/// let role = RamRoleArnProvider::new(
///     Credentials::access_key("LTAI...", "secret"),
///     "acs:ram::123456789012:role/uploader",
/// )
/// .role_session_name("camera-17")
/// .duration_seconds(3600);
/// let client = ens_upload::Client::builder().credentials_provider(role).build()?;
/// # Ok::<(), ens_upload::Error>(())
/// ```
pub struct RamRoleArnProvider {
    source: Arc<CredentialCache>,
    settings: RoleSettings,
    external_id: Option<String>,
}

impl fmt::Debug for RamRoleArnProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RamRoleArnProvider")
            .field("role_arn", &self.settings.role_arn)
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl RamRoleArnProvider {
    /// Assumes `role_arn` (`acs:ram::<account>:role/<name>`) with
    /// credentials from `source`. Defaults: session name
    /// `ens-upload-<unix time>`, 3600 s, no policy, STS from the
    /// environment ([`ENV_STS_ENDPOINT`], [`ENV_STS_REGION`]) else
    /// `https://sts.aliyuncs.com`.
    pub fn new(
        source: impl CredentialsProvider + 'static,
        role_arn: impl Into<String>,
    ) -> RamRoleArnProvider {
        RamRoleArnProvider {
            source: Arc::new(CredentialCache::from_provider(Arc::new(source))),
            settings: RoleSettings::new(role_arn.into()),
            external_id: None,
        }
    }

    role_setters!();

    /// `ExternalId`, when the role's trust policy asks for one.
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }
}

impl CredentialsProvider for RamRoleArnProvider {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        let mut params = self.settings.params(ctx)?;
        if let Some(id) = &self.external_id {
            params.push(("ExternalId", id.clone()));
        }
        let endpoint = sts_endpoint(self.settings.sts_endpoint.as_deref(), &ProcessEnv)?;
        let source = self.source.get(ctx.session)?;
        let creds = &source.creds;
        let timestamp = crate::clock::format_iso8601(ctx.session.clock.now());
        let nonce = crate::sign::new_nonce();
        let mut all: Vec<(&str, &str)> = vec![
            ("Action", "AssumeRole"),
            ("Version", STS_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", creds.access_key_id()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &nonce),
            ("Timestamp", &timestamp),
        ];
        all.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(token) = creds.security_token() {
            all.push(("SecurityToken", token));
        }
        let mut url = format!("{endpoint}/?").into_bytes();
        let signed = source.rpc_signer.sign_into("POST", &all, &mut url);
        url.extend_from_slice(b"&Signature=");
        let mut url = String::from_utf8(url)
            .map_err(|_| Error::config(format!("the STS endpoint {endpoint} is not ASCII")))?;
        crate::sign::percent_encode_into(&mut url, &signed.signature);
        let ours = String::from_utf8_lossy(&signed.string_to_sign).into_owned();
        let place = format!("STS AssumeRole at {endpoint}");
        let answer = service::send(
            ctx,
            ServiceCall {
                op: "AssumeRole",
                method: "POST",
                url: &url,
                headers: Vec::new(),
                form: &[],
                timeout: STS_TIMEOUT,
                use_proxy: true,
                learns_clock: true,
            },
        )
        .map_err(|e| self.source.scrub(e))?;
        sts_answer(&answer, &ours, &place)
            .map(|c| c.with_source(self.describe()))
            .map_err(|e| self.source.scrub(e))
    }

    fn describe(&self) -> String {
        format!(
            "AssumeRole {} (source: {})",
            self.settings.role_arn,
            self.source.describe()
        )
    }
}

/// Credentials for a RAM role from an OIDC token (RRSA, e.g. a Kubernetes
/// service account): STS `AssumeRoleWithOIDC`, which is not signed. The
/// token file is read again at every refresh (the platform rotates it).
#[derive(Debug)]
pub struct OidcRoleProvider {
    settings: RoleSettings,
    provider_arn: String,
    token_file: PathBuf,
}

impl fmt::Debug for RoleSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleSettings")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("duration_secs", &self.duration_secs)
            .field("sts_endpoint", &self.sts_endpoint)
            .finish_non_exhaustive()
    }
}

impl OidcRoleProvider {
    /// Assumes `role_arn` with the OIDC token in `token_file`, issued by
    /// the identity provider `oidc_provider_arn`.
    pub fn new(
        role_arn: impl Into<String>,
        oidc_provider_arn: impl Into<String>,
        token_file: impl Into<PathBuf>,
    ) -> OidcRoleProvider {
        OidcRoleProvider {
            settings: RoleSettings::new(role_arn.into()),
            provider_arn: oidc_provider_arn.into(),
            token_file: token_file.into(),
        }
    }

    /// From [`ENV_ROLE_ARN`], [`ENV_OIDC_PROVIDER_ARN`],
    /// [`ENV_OIDC_TOKEN_FILE`] and optionally [`ENV_ROLE_SESSION_NAME`];
    /// `Ok(None)` when none of the three is set, an error naming what is
    /// missing when only some are.
    pub fn from_env() -> Result<Option<OidcRoleProvider>> {
        oidc_from_env(&ProcessEnv)
    }

    role_setters!();
}

pub(crate) fn oidc_from_env(env: &dyn Env) -> Result<Option<OidcRoleProvider>> {
    let role = env.var(ENV_ROLE_ARN)?;
    let provider = env.var(ENV_OIDC_PROVIDER_ARN)?;
    let file = env.var(ENV_OIDC_TOKEN_FILE)?;
    match (role, provider, file) {
        (None, None, None) => Ok(None),
        (Some(role), Some(provider), Some(file)) => {
            let mut p = OidcRoleProvider::new(role, provider, file);
            p.settings.session_name = env.var(ENV_ROLE_SESSION_NAME)?;
            Ok(Some(p))
        }
        (role, provider, file) => {
            let missing: Vec<&str> = [
                (ENV_ROLE_ARN, role.is_none()),
                (ENV_OIDC_PROVIDER_ARN, provider.is_none()),
                (ENV_OIDC_TOKEN_FILE, file.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| *n)
            .collect();
            Err(Error::credentials(format!(
                "the OIDC role is half configured: {} not set",
                missing.join(" and ")
            )))
        }
    }
}

impl CredentialsProvider for OidcRoleProvider {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        let mut params = self.settings.params(ctx)?;
        if self.provider_arn.is_empty() {
            return Err(Error::invalid_input("OIDCProviderArn", "is empty"));
        }
        let token =
            crate::files::read_capped(&self.token_file, MAX_OIDC_TOKEN_BYTES).map_err(|e| {
                Error::credentials(format!(
                    "cannot read the OIDC token file {}: {e}",
                    self.token_file.display()
                ))
            })?;
        let token = String::from_utf8(token).map_err(|_| {
            Error::credentials(format!(
                "the OIDC token file {} is not text",
                self.token_file.display()
            ))
        })?;
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::credentials(format!(
                "the OIDC token file {} is empty",
                self.token_file.display()
            )));
        }
        params.push(("OIDCProviderArn", self.provider_arn.clone()));
        params.push(("OIDCToken", token.to_owned()));
        let endpoint = sts_endpoint(self.settings.sts_endpoint.as_deref(), &ProcessEnv)?;
        let timestamp = crate::clock::format_iso8601(ctx.session.clock.now());
        let query: Vec<(&str, &str)> = vec![
            ("Action", "AssumeRoleWithOIDC"),
            ("Version", STS_VERSION),
            ("Format", "JSON"),
            ("Timestamp", &timestamp),
        ];
        let mut url = format!("{endpoint}/?");
        push_form(&mut url, &query);
        let mut form = String::new();
        let body: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        push_form(&mut form, &body);
        let place = format!("STS AssumeRoleWithOIDC at {endpoint}");
        let answer = service::send(
            ctx,
            ServiceCall {
                op: "AssumeRoleWithOIDC",
                method: "POST",
                url: &url,
                headers: vec![(
                    HeaderName::from_static("content-type"),
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )],
                form: form.as_bytes(),
                timeout: STS_TIMEOUT,
                use_proxy: true,
                learns_clock: true,
            },
        )
        .map_err(|e| e.redact_secrets(&[token]))?;
        sts_answer(&answer, "", &place)
            .map(|c| c.with_source(self.describe()))
            .map_err(|e| e.redact_secrets(&[token]))
    }

    fn describe(&self) -> String {
        format!(
            "AssumeRoleWithOIDC {} (token file {})",
            self.settings.role_arn,
            self.token_file.display()
        )
    }
}

/// `k=v&k=v`, percent-encoded as RPC wants.
fn push_form(out: &mut String, pairs: &[(&str, &str)]) {
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        crate::sign::percent_encode_into(out, k);
        out.push('=');
        crate::sign::percent_encode_into(out, v);
    }
}

/// STS's answer: `Credentials` on success, its JSON error otherwise.
fn sts_answer(answer: &crate::http::Answer, ours: &str, place: &str) -> Result<Credentials> {
    if !answer.is_success() {
        let e = crate::response::decode_error_answer(answer.status, &answer.body, ours);
        return Err(match e {
            Error::Api(api) => Error::Credentials {
                reason: format!("{place} refused: {} ({})", api.code, api.message),
                source: Some(Arc::new(Error::Api(api))),
            },
            other => other,
        });
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Credentials")]
        credentials: Option<IssuedCredentials>,
    }
    let a: Answer = service::decode_json(answer, place)?;
    match a.credentials {
        Some(c) => c.into_credentials(place),
        None => Err(Error::credentials(format!(
            "{place} answered without Credentials"
        ))),
    }
}
