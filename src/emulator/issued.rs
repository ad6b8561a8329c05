//! The STS credentials the emulator's credentials services hand out (STS
//! `AssumeRole` and `AssumeRoleWithOIDC` in `sts.rs`, the ECS metadata
//! paths and the credentials URI in `metadata.rs`): each one fresh, with a
//! lifetime tests can make seconds short, accepted by the ENS and OSS sides
//! until it expires and refused with their expired-token errors after.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::builder::Key;
use super::{lock, Emulator, EmulatorBuilder, KeyState, Shared};
use crate::sign::new_nonce;

/// The path of the credentials URI (see [`Emulator::credentials_uri`]).
pub(super) const CREDENTIALS_URI_PATH: &str = "/credentials-uri";
/// The role the ECS metadata paths serve by default.
pub const DEFAULT_ECS_ROLE_NAME: &str = "EcsRamRoleTest";
/// How long an issued credential lives by default (as STS's default
/// `DurationSeconds`).
pub const DEFAULT_ISSUED_LIFETIME: Duration = Duration::from_secs(3600);
/// Past this many issued credentials, those expired for over an hour are
/// forgotten (a later call with one is then an unknown key).
const REMEMBERED_ISSUED: usize = 10_000;

/// Which credentials service issued a credential (see
/// [`Emulator::issued_credentials`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IssuedBy {
    /// STS `AssumeRole`, signed by a source credential.
    AssumeRole,
    /// STS `AssumeRoleWithOIDC` (RRSA).
    AssumeRoleWithOidc,
    /// The ECS metadata path `/latest/meta-data/ram/security-credentials/<role>`.
    EcsMetadata,
    /// The credentials URI.
    CredentialsUri,
}

impl IssuedBy {
    fn index(self) -> usize {
        match self {
            IssuedBy::AssumeRole => 0,
            IssuedBy::AssumeRoleWithOidc => 1,
            IssuedBy::EcsMetadata => 2,
            IssuedBy::CredentialsUri => 3,
        }
    }
}

/// The builder's settings for the credentials services.
#[derive(Clone)]
pub(super) struct IssuingConfig {
    /// Lifetime of every issued credential, in whole seconds (an
    /// `AssumeRole` asking for less gets less).
    pub(super) lifetime_secs: u64,
    /// The only OIDC token `AssumeRoleWithOIDC` accepts (any non-empty one
    /// when `None`).
    pub(super) oidc_token: Option<String>,
    /// Refuse ECS metadata GETs without a metadata token (IMDSv2 only).
    pub(super) ecs_require_imdsv2: bool,
    pub(super) ecs_role_name: String,
}

impl Default for IssuingConfig {
    fn default() -> Self {
        IssuingConfig {
            lifetime_secs: DEFAULT_ISSUED_LIFETIME.as_secs(),
            oidc_token: None,
            ecs_require_imdsv2: false,
            ecs_role_name: DEFAULT_ECS_ROLE_NAME.to_owned(),
        }
    }
}

/// A credential just issued.
pub(super) struct Issued {
    pub(super) access_key_id: String,
    pub(super) access_key_secret: String,
    pub(super) security_token: String,
    /// Emulator clock, Unix seconds.
    pub(super) issued_at: i64,
    pub(super) expires_at: i64,
    /// Its serial number (1, 2, ...), for ids derived from it.
    pub(super) serial: u64,
}

impl Issued {
    /// The four fields every credentials answer carries, `Expiration` in
    /// ISO 8601 UTC on the emulator's clock.
    pub(super) fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("AccessKeyId".into(), self.access_key_id.clone().into());
        m.insert(
            "AccessKeySecret".into(),
            self.access_key_secret.clone().into(),
        );
        m.insert("SecurityToken".into(), self.security_token.clone().into());
        m.insert(
            "Expiration".into(),
            crate::clock::format_iso8601(self.expires_at).into(),
        );
        m
    }
}

/// What the credentials services remember: the credentials they issued
/// (so ENS and OSS accept them), how many per service, the last OIDC token
/// and the ECS metadata tokens handed out.
#[derive(Default)]
pub(super) struct IssuedRegistry {
    keys: Mutex<HashMap<String, Key>>,
    counts: [AtomicU64; 4],
    serial: AtomicU64,
    last_oidc_token: Mutex<Option<String>>,
    /// IMDSv2 tokens and when each expires (emulator clock).
    metadata_tokens: Mutex<HashMap<String, i64>>,
}

impl IssuedRegistry {
    pub(super) fn remember_oidc_token(&self, token: &str) {
        *lock(&self.last_oidc_token) = Some(token.to_owned());
    }

    /// A new IMDSv2 token valid for `ttl_secs` from `now`.
    pub(super) fn new_metadata_token(&self, now: i64, ttl_secs: i64) -> String {
        let token = format!("EmuImds{}", new_nonce());
        let mut tokens = lock(&self.metadata_tokens);
        tokens.retain(|_, expires| *expires > now);
        tokens.insert(token.clone(), now.saturating_add(ttl_secs));
        token
    }

    /// Whether `token` is an IMDSv2 token handed out and not expired.
    pub(super) fn metadata_token_valid(&self, token: &str, now: i64) -> bool {
        lock(&self.metadata_tokens)
            .get(token)
            .is_some_and(|expires| *expires > now)
    }
}

impl Shared {
    /// The key `id`: configured, or issued by a credentials service (with
    /// its expiry).
    pub(super) fn key(&self, id: &str) -> Option<Key> {
        if let Some(k) = self.config.keys.get(id) {
            return Some(k.clone());
        }
        lock(&self.issued.keys).get(id).cloned()
    }

    /// Issues a fresh credential for `by`, living `lifetime_secs` (at most
    /// the configured lifetime) from now on the emulator's clock.
    pub(super) fn issue(&self, by: IssuedBy, lifetime_secs: Option<u64>) -> Issued {
        let configured = self.config.issuing.lifetime_secs;
        let lifetime = lifetime_secs.map_or(configured, |asked| asked.min(configured));
        let now = self.now();
        let serial = self.issued.serial.fetch_add(1, Ordering::SeqCst) + 1;
        let nonce = new_nonce();
        let issued = Issued {
            access_key_id: format!("STS.Emu{serial}x{}", &nonce[..12]),
            access_key_secret: format!("EmuIssuedSecret{}", &nonce[12..]),
            // `+`, `/` and `=` as real tokens have: they must be encoded.
            security_token: format!("CAIS{serial}+Emu/{nonce}=="),
            issued_at: now,
            expires_at: now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
            serial,
        };
        let key = Key {
            secret: issued.access_key_secret.clone(),
            token: Some(issued.security_token.clone()),
            state: KeyState::Active,
            expires_at: Some(issued.expires_at),
        };
        let mut keys = lock(&self.issued.keys);
        if keys.len() >= REMEMBERED_ISSUED {
            keys.retain(|_, k| k.expires_at.is_some_and(|t| t > now - 3600));
        }
        keys.insert(issued.access_key_id.clone(), key);
        drop(keys);
        self.issued.counts[by.index()].fetch_add(1, Ordering::SeqCst);
        issued
    }
}

impl EmulatorBuilder {
    /// How long every credential the credentials services issue is
    /// accepted (default [`DEFAULT_ISSUED_LIFETIME`], one hour), in whole
    /// seconds (a fraction counts as one second): a few seconds lets tests
    /// see credentials expire. An `AssumeRole` or `AssumeRoleWithOIDC`
    /// asking for a shorter `DurationSeconds` gets that.
    pub fn issued_credential_lifetime(mut self, lifetime: Duration) -> Self {
        let mut secs = lifetime.as_secs();
        if secs == 0 && !lifetime.is_zero() {
            secs = 1;
        }
        self.issuing.lifetime_secs = secs;
        self
    }

    /// The only OIDC token `AssumeRoleWithOIDC` accepts (surrounding
    /// whitespace aside, as a token file's final newline); another one is
    /// answered 401 `AuthenticationFail.OIDCToken.InvalidSignature`.
    /// Without it any non-empty token is accepted.
    pub fn oidc_token(mut self, expected: impl Into<String>) -> Self {
        self.issuing.oidc_token = Some(expected.into());
        self
    }

    /// Refuses ECS metadata GETs that carry no metadata token (401), as an
    /// instance in security hardening mode does: only IMDSv2 works. By
    /// default both IMDSv1 and IMDSv2 work.
    pub fn ecs_require_imdsv2(mut self, required: bool) -> Self {
        self.issuing.ecs_require_imdsv2 = required;
        self
    }

    /// The RAM role the ECS metadata paths serve (default
    /// [`DEFAULT_ECS_ROLE_NAME`]); another role name is answered 404.
    pub fn ecs_role_name(mut self, name: impl Into<String>) -> Self {
        self.issuing.ecs_role_name = name.into();
        self
    }
}

impl Emulator {
    /// The STS endpoint (`AssumeRole`, `AssumeRoleWithOIDC`, version
    /// 2015-04-01): the emulator's own endpoint, e.g.
    /// `http://127.0.0.1:40123`.
    pub fn sts_endpoint(&self) -> String {
        self.endpoint()
    }

    /// The ECS instance metadata endpoint (stands in for
    /// `http://100.100.100.200`): the emulator's own endpoint.
    pub fn ecs_metadata_endpoint(&self) -> String {
        self.endpoint()
    }

    /// The credentials URI, e.g. `http://127.0.0.1:40123/credentials-uri`:
    /// each GET hands out a fresh credential.
    pub fn credentials_uri(&self) -> String {
        format!("{}{CREDENTIALS_URI_PATH}", self.endpoint())
    }

    /// How many credentials `by` has issued so far.
    pub fn issued_credentials(&self, by: IssuedBy) -> u64 {
        self.shared.issued.counts[by.index()].load(Ordering::SeqCst)
    }

    /// The OIDC token of the last `AssumeRoleWithOIDC` call, accepted or
    /// not (`None` before the first).
    pub fn last_oidc_token(&self) -> Option<String> {
        lock(&self.shared.issued.last_oidc_token).clone()
    }
}
