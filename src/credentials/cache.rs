//! The credentials a client holds, refreshed before they expire.
//!
//! Rule: credentials with an expiry are refreshed once less than
//! `min(max(3 min, 10% of their lifetime), half their lifetime)` is left
//! (an hour's STS token at 54 min, a 15-minute one at 12 min; the cap keeps
//! short test lifetimes usable). Only one thread fetches at a time; the
//! others keep using the credentials in hand while they are valid, and
//! wait for the fetch once they are not. A failed refresh keeps the valid
//! credentials and tries again after a backoff (1 s doubling to 60 s);
//! expired credentials are never used. Time is the client's corrected
//! clock (`clock.rs`), so a device that booted in 1970 decides by the
//! servers' time once one has answered.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::http::{Hints, Session};
use crate::sign::RpcSigner;

use super::{Credentials, CredentialsProvider, FetchContext};

/// The least time before expiry at which a refresh is due (for lifetimes
/// of six minutes and more).
const MIN_REFRESH_MARGIN_SECS: i64 = 180;
/// Backoff between failed refreshes: from 1 s, doubling, to 60 s.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One set of credentials in use, with its secret keyed into HMAC once.
pub(crate) struct Current {
    pub(crate) creds: Credentials,
    pub(crate) rpc_signer: RpcSigner,
    /// Unix seconds (corrected clock) when a refresh becomes due.
    refresh_at: Option<i64>,
}

impl Current {
    fn new(creds: Credentials, fetched_at: i64) -> Current {
        let refresh_at = creds.expires_at().map(|expiry| {
            let lifetime = expiry.saturating_sub(fetched_at).max(0);
            let margin = (lifetime / 10)
                .max(MIN_REFRESH_MARGIN_SECS)
                .min(lifetime / 2);
            expiry - margin
        });
        Current {
            rpc_signer: RpcSigner::new(creds.secret()),
            creds,
            refresh_at,
        }
    }

    fn expired(&self, now: i64) -> bool {
        self.creds.expires_at().is_some_and(|e| now >= e)
    }

    fn refresh_due(&self, now: i64) -> bool {
        self.refresh_at.is_some_and(|at| now >= at)
    }
}

/// What the last refresh attempts left behind.
#[derive(Default)]
struct RefreshState {
    failures: u32,
    retry_after: Option<Instant>,
    last_error: Option<Arc<Error>>,
}

/// A client's credentials: fixed ones, or a provider's, refreshed.
pub(crate) struct CredentialCache {
    provider: Arc<dyn CredentialsProvider>,
    /// Credentials that never expire and were given up front.
    fixed: Option<Arc<Current>>,
    current: RwLock<Option<Arc<Current>>>,
    /// Held while fetching: one fetch at a time (single flight).
    refresh: Mutex<RefreshState>,
    /// What the provider is (never a secret).
    description: String,
    /// `Client::credentials` for a provider: no key, the description as source.
    placeholder: Credentials,
}

impl CredentialCache {
    /// Credentials given up front: no fetch, no refresh, no lock.
    pub(crate) fn fixed(creds: Credentials) -> CredentialCache {
        let description = creds.source().to_owned();
        let current = Arc::new(Current::new(creds.clone(), 0));
        CredentialCache {
            provider: Arc::new(creds),
            fixed: current.refresh_at.is_none().then_some(current),
            current: RwLock::new(None),
            refresh: Mutex::new(RefreshState::default()),
            placeholder: Credentials::access_key("", "").with_source(description.clone()),
            description,
        }
    }

    /// A provider's credentials, fetched on the first request.
    pub(crate) fn from_provider(provider: Arc<dyn CredentialsProvider>) -> CredentialCache {
        let description = provider.describe();
        CredentialCache {
            placeholder: Credentials::access_key("", "").with_source(description.clone()),
            description,
            provider,
            fixed: None,
            current: RwLock::new(None),
            refresh: Mutex::new(RefreshState::default()),
        }
    }

    /// What the credentials come from (never a secret).
    pub(crate) fn describe(&self) -> &str {
        &self.description
    }

    /// Where the credentials in hand came from (their `source`), else what
    /// the provider is.
    pub(crate) fn source(&self) -> String {
        match self.fixed.clone().or_else(|| self.held()) {
            Some(c) => c.creds.source().to_owned(),
            None => self.description.clone(),
        }
    }

    /// The fixed credentials; for a provider, a description with no key.
    pub(crate) fn fixed_or_description(&self) -> &Credentials {
        match &self.fixed {
            Some(c) => &c.creds,
            None => &self.placeholder,
        }
    }

    /// The credentials to sign the next request with: refreshed first when
    /// due, never expired.
    pub(crate) fn get(&self, session: &Session) -> Result<Arc<Current>> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let now = session.clock.now();
        let held = self.held();
        match held {
            Some(c) if !c.refresh_due(now) => Ok(c),
            Some(c) if !c.expired(now) => {
                // Due but still valid: whoever gets the lock refreshes,
                // everyone else signs with what is in hand.
                if let Ok(mut state) = self.refresh.try_lock() {
                    let same = self.held().is_some_and(|h| Arc::ptr_eq(&h, &c));
                    if same && backoff_over(&state) {
                        if let Ok(fresh) = self.fetch_locked(&mut state, session) {
                            return Ok(fresh);
                        }
                    }
                }
                Ok(self.held().filter(|h| !h.expired(now)).unwrap_or(c))
            }
            _ => self.wait_for_fresh(session, None),
        }
    }

    /// The server said the token in `stale` expired (or was otherwise
    /// refused as stale): fetch new credentials unless another thread
    /// already did.
    pub(crate) fn refresh_after_refusal(
        &self,
        session: &Session,
        stale: &Arc<Current>,
    ) -> Result<Arc<Current>> {
        if self.fixed.is_some() {
            return Err(Error::credentials(format!(
                "the server refused the security token of {} as expired; fixed credentials \
                 cannot be refreshed: give the client a provider that can \
                 (ClientBuilder::credentials_provider, or the default chain)",
                self.description
            )));
        }
        self.wait_for_fresh(session, Some(stale))
    }

    /// After a failed attempt signed with `used`: when the server refused
    /// its security token as expired, fetches new credentials and asks
    /// the retry loop to sign again at once (once per call).
    pub(crate) fn after_refusal(
        &self,
        session: &Session,
        used: &Arc<Current>,
        error: &Error,
        hints: &mut Hints,
    ) {
        if !refused_as_expired(error) {
            return;
        }
        match self.refresh_after_refusal(session, used) {
            Ok(_) => hints.sign_again = true,
            Err(e) => log::warn!("the server said the security token expired: {e}"),
        }
    }

    /// Scrubs every secret the client has signed with lately from `e`.
    pub(crate) fn scrub(&self, e: Error) -> Error {
        let held = self.held();
        let mut secrets: Vec<&str> = Vec::new();
        for c in self.fixed.iter().chain(held.iter()) {
            secrets.extend(c.creds.secrets());
        }
        e.redact_secrets(&secrets)
    }

    fn held(&self) -> Option<Arc<Current>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Blocks on the refresh lock; then uses what another thread fetched
    /// meanwhile, or fetches.
    fn wait_for_fresh(
        &self,
        session: &Session,
        stale: Option<&Arc<Current>>,
    ) -> Result<Arc<Current>> {
        let mut state = self.refresh.lock().unwrap_or_else(PoisonError::into_inner);
        let now = session.clock.now();
        if let Some(c) = self.held() {
            let is_stale = stale.is_some_and(|s| Arc::ptr_eq(s, &c));
            if !is_stale && !c.expired(now) {
                return Ok(c);
            }
        }
        if !backoff_over(&state) {
            if let Some(last) = &state.last_error {
                return Err(self.failure(last.clone()));
            }
        }
        self.fetch_locked(&mut state, session)
    }

    /// Fetches with the refresh lock held, recording the outcome.
    fn fetch_locked(&self, state: &mut RefreshState, session: &Session) -> Result<Arc<Current>> {
        let ctx = FetchContext { session };
        let fetched = self.provider.fetch(&ctx).and_then(|creds| {
            creds.validate()?;
            let now = session.clock.now();
            if let Some(expiry) = creds.expires_at() {
                if now >= expiry {
                    return Err(Error::credentials(format!(
                        "{} gave credentials that expired at {} (the clock says {}): \
                         check the device clock or the provider",
                        creds.source(),
                        crate::clock::format_iso8601(expiry),
                        crate::clock::format_iso8601(now)
                    )));
                }
            }
            Ok(Arc::new(Current::new(creds, now)))
        });
        match fetched {
            Ok(fresh) => {
                match fresh.creds.expires_at() {
                    Some(e) => log::info!(
                        "credentials from {} fetched; they expire at {}",
                        self.description,
                        crate::clock::format_iso8601(e)
                    ),
                    None => log::info!("credentials from {} fetched", self.description),
                }
                *state = RefreshState::default();
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => {
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1 << state.failures.min(6))
                    .min(MAX_BACKOFF);
                state.failures = state.failures.saturating_add(1);
                state.retry_after = Some(crate::clock::instant_after(backoff));
                log::warn!(
                    "fetching credentials from {} failed (next try in {} s at the earliest): {e}",
                    self.description,
                    backoff.as_secs()
                );
                let e = Arc::new(e);
                state.last_error = Some(e.clone());
                Err(self.failure(e))
            }
        }
    }

    /// The error a request gets when no valid credentials could be had.
    fn failure(&self, last: Arc<Error>) -> Error {
        let expired = self.held().is_some();
        // The chain's own "found nothing" stays itself.
        if let Error::NoCredentials { looked_in } = &*last {
            return Error::NoCredentials {
                looked_in: looked_in.clone(),
            };
        }
        let what = if expired {
            "the credentials expired and refreshing them failed"
        } else {
            "fetching credentials failed"
        };
        Error::Credentials {
            reason: format!("{}: {what}: {last}", self.description),
            source: Some(last),
        }
    }
}

/// Whether a server refused a request because its security token expired:
/// ENS's `InvalidSecurityToken.Expired`, OSS's `SecurityTokenExpired` (or
/// an OSS answer whose message says the token expired).
pub(crate) fn refused_as_expired(e: &Error) -> bool {
    e.api().is_some_and(|a| {
        a.code == "InvalidSecurityToken.Expired"
            || a.code == "SecurityTokenExpired"
            || (a.code.contains("Token") && a.code.contains("Expired"))
            || (a.message.contains("security token") && a.message.contains("expired"))
    })
}

fn backoff_over(state: &RefreshState) -> bool {
    state.retry_after.is_none_or(|t| Instant::now() >= t)
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("provider", &self.description)
            .finish_non_exhaustive()
    }
}

/// A cache is a provider too: the source of a role's credentials.
impl CredentialsProvider for CredentialCache {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        self.get(ctx.session).map(|c| c.creds.clone())
    }
    fn describe(&self) -> String {
        self.description.clone()
    }
}
