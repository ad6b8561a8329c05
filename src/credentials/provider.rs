//! The provider trait: where a client gets its credentials from, again
//! whenever the ones it holds are about to expire.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::http::Session;

use super::Credentials;

/// A source of credentials that a client asks again before they expire.
///
/// A client calls [`fetch`](CredentialsProvider::fetch) on its first
/// request and whenever the credentials it holds are due for a refresh
/// (see the crate's credentials documentation for the rule); one thread
/// at a time, whatever the number of threads and clones of the client.
/// Credentials without an expiry ([`Credentials::with_expiration`] not
/// called) are fetched once and kept.
///
/// ```
/// use ens_upload::{Credentials, CredentialsProvider, FetchContext, Result};
/// use std::time::{Duration, SystemTime};
///
/// #[derive(Debug)]
/// struct Vault;
/// impl CredentialsProvider for Vault {
///     fn fetch(&self, _ctx: &FetchContext<'_>) -> Result<Credentials> {
///         let expires = SystemTime::now() + Duration::from_secs(3600);
///         Ok(Credentials::sts("STS.id", "secret", "token")
///             .with_expiration(expires)
///             .with_source("vault"))
///     }
///     fn describe(&self) -> String {
///         "vault".into()
///     }
/// }
/// let client = ens_upload::Client::builder().credentials_provider(Vault).build()?;
/// assert_eq!(client.credentials_source(), "vault");
/// # Ok::<(), ens_upload::Error>(())
/// ```
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// Fetches credentials, with their expiry when they have one. An error
    /// is reported to the request that needed them (and, while the
    /// credentials in hand are still valid, only logged).
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials>;

    /// What this provider is, for errors and
    /// [`Client::credentials_source`](crate::Client::credentials_source),
    /// e.g. `AssumeRole acs:ram::123:role/uploader`. Never a secret.
    fn describe(&self) -> String;
}

impl<P: CredentialsProvider + ?Sized> CredentialsProvider for Arc<P> {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        (**self).fetch(ctx)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<P: CredentialsProvider + ?Sized> CredentialsProvider for Box<P> {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        (**self).fetch(ctx)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Fixed credentials are a provider that always gives the same answer.
impl CredentialsProvider for Credentials {
    fn fetch(&self, _ctx: &FetchContext<'_>) -> Result<Credentials> {
        Ok(self.clone())
    }
    fn describe(&self) -> String {
        self.source().to_owned()
    }
}

/// What a provider gets to work with: the client's corrected clock, and
/// (for the providers of this crate) its HTTP session.
pub struct FetchContext<'a> {
    pub(crate) session: &'a Session,
}

impl fmt::Debug for FetchContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchContext")
            .field("clock_offset", &self.session.clock.get())
            .finish()
    }
}

impl FetchContext<'_> {
    /// Now, by the client's clock corrected with what servers said
    /// (a device that booted in 1970 still gets the real time once one
    /// server has answered).
    pub fn now(&self) -> SystemTime {
        let unix = self.session.clock.now();
        match u64::try_from(unix) {
            Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
            Err(_) => UNIX_EPOCH,
        }
    }
}
