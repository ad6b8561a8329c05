//! Credentials from a URI (`ALIBABA_CLOUD_CREDENTIALS_URI`): a local
//! service answering JSON with `AccessKeyId`, `AccessKeySecret`,
//! `SecurityToken` and `Expiration`.

use std::time::Duration;

use crate::error::{Error, Result};

use super::service::{self, IssuedCredentials, ServiceCall};
use super::{Credentials, CredentialsProvider, FetchContext};

/// The URI the default chain asks last.
pub const ENV_CREDENTIALS_URI: &str = "ALIBABA_CLOUD_CREDENTIALS_URI";

const URI_TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials served at a URI (`GET`, JSON), refreshed before they expire.
///
/// ```
/// use ens_upload::CredentialsUriProvider;
/// let p = CredentialsUriProvider::new("http://127.0.0.1:9000/credentials");
/// let client = ens_upload::Client::builder().credentials_provider(p).build()?;
/// # Ok::<(), ens_upload::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CredentialsUriProvider {
    uri: String,
}

impl CredentialsUriProvider {
    /// Asks `uri` (`http://` or `https://`).
    pub fn new(uri: impl Into<String>) -> CredentialsUriProvider {
        CredentialsUriProvider { uri: uri.into() }
    }

    /// Where the URI's host and path are shown: never its query (it may
    /// carry a key).
    fn shown(&self) -> &str {
        self.uri.split(['?', '#']).next().unwrap_or_default()
    }
}

impl CredentialsProvider for CredentialsUriProvider {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        let place = format!("credentials URI {}", self.shown());
        let answer = service::send(
            ctx,
            ServiceCall {
                op: "credentials URI",
                method: "GET",
                url: &self.uri,
                headers: Vec::new(),
                form: &[],
                timeout: URI_TIMEOUT,
                use_proxy: true,
                learns_clock: false,
            },
        )?;
        if !answer.is_success() {
            return Err(Error::credentials(format!(
                "{place} answered HTTP {}",
                answer.status
            )));
        }
        let issued: IssuedCredentials = service::decode_json(&answer, &place)?;
        if let Some(code) = issued.code.as_deref().filter(|c| *c != "Success") {
            return Err(Error::credentials(format!(
                "{place} answered Code {code:?}"
            )));
        }
        issued.into_credentials(&place)
    }

    fn describe(&self) -> String {
        format!("credentials URI {}", self.shown())
    }
}
