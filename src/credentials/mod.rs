//! AccessKey and STS credentials, the providers that give them, and the
//! cache that refreshes them before they expire.
//!
//! Secrets never reach `Debug`, `Display`, an error message or a log line.

mod cache;
mod chain;
mod ecs;
mod process;
mod profile;
mod provider;
mod service;
mod sts;
mod uri;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use profile::ProviderOptions;

use crate::error::{Error, Result};

pub(crate) use cache::{CredentialCache, Current};
pub use chain::{DefaultCredentialsChain, DefaultCredentialsChainBuilder};
pub use ecs::{
    EcsRamRoleProvider, DEFAULT_ECS_METADATA_ENDPOINT, ENV_ECS_METADATA, ENV_ECS_METADATA_DISABLED,
    ENV_ECS_METADATA_ENDPOINT, ENV_IMDSV1_DISABLED,
};
pub use process::{ExternalProcessProvider, DEFAULT_PROCESS_TIMEOUT};
pub use profile::ENV_CLI_PROFILE_DISABLED;
pub use provider::{CredentialsProvider, FetchContext};
pub(crate) use sts::check_session_name;
pub use sts::{
    OidcRoleProvider, RamRoleArnProvider, DEFAULT_STS_ENDPOINT, ENV_OIDC_PROVIDER_ARN,
    ENV_OIDC_TOKEN_FILE, ENV_ROLE_ARN, ENV_ROLE_SESSION_NAME, ENV_STS_ENDPOINT, ENV_STS_REGION,
    ENV_VPC_ENDPOINT_ENABLED,
};
pub use uri::{CredentialsUriProvider, ENV_CREDENTIALS_URI};

/// Environment variable holding the AccessKey id.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable holding the AccessKey secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Environment variable holding an STS security token.
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
/// Environment variable naming the credentials file.
pub const ENV_CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
/// Environment variable naming the profile in the credentials file and config.json.
pub const ENV_PROFILE: &str = "ALIBABA_CLOUD_PROFILE";

/// A string that is never printed: `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::redact::REDACTED)
    }
}

/// Credentials that sign requests: an AccessKey pair, optionally with an STS
/// security token.
///
/// ```
/// use ens_upload::Credentials;
/// let ak = Credentials::access_key("LTAI-example", "secret");
/// assert_eq!(ak.access_key_id(), "LTAI-example");
/// assert!(!format!("{ak:?}").contains("secret\""));
/// let sts = Credentials::sts("STS.example", "secret", "token");
/// assert!(sts.is_sts());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: Secret,
    security_token: Option<Secret>,
    source: String,
    /// Unix seconds (by the servers' clock) after which these are refused.
    expiration: Option<i64>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &self.access_key_secret)
            .field("security_token", &self.security_token)
            .field("source", &self.source)
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl Credentials {
    /// A long-lived AccessKey pair.
    pub fn access_key(id: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            access_key_secret: Secret(secret.into()),
            security_token: None,
            source: "explicit access key".into(),
            expiration: None,
        }
    }

    /// Temporary STS credentials: id, secret and security token.
    pub fn sts(
        id: impl Into<String>,
        secret: impl Into<String>,
        security_token: impl Into<String>,
    ) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            access_key_secret: Secret(secret.into()),
            security_token: Some(Secret(security_token.into())),
            source: "explicit STS token".into(),
            expiration: None,
        }
    }

    /// Credentials from `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET`
    /// and, when set, `ALIBABA_CLOUD_SECURITY_TOKEN`.
    pub fn from_env() -> Result<Credentials> {
        match chain::from_env_source(&ProcessEnv)? {
            Some(c) => Ok(c),
            None => Err(Error::credentials(format!(
                "{ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} are not set"
            ))),
        }
    }

    /// The offline part of the default chain, for credentials written
    /// down: the environment, then `~/.aliyun/config.json` (profile
    /// `ALIBABA_CLOUD_PROFILE`, else its `current`), then the credentials
    /// file (`ALIBABA_CLOUD_CREDENTIALS_FILE`, else
    /// `~/.alibabacloud/credentials.ini`; profile `ALIBABA_CLOUD_PROFILE`,
    /// else `default`). When it finds nothing, [`Error::NoCredentials`]
    /// names every place it looked.
    ///
    /// A source that fetches credentials (the OIDC role, a profile with a
    /// role, the ECS RAM role, an external process, the credentials URI)
    /// is an error here: a client built without credentials
    /// ([`Client::builder`](crate::Client::builder)) or a
    /// [`DefaultCredentialsChain`] uses it, and refreshes what it gives.
    pub fn from_default_chain() -> Result<Credentials> {
        chain::resolve_static(&ProcessEnv, None)
    }

    /// [`Credentials::from_default_chain`] with an explicit profile name
    /// for `config.json` and the credentials file (taking precedence over
    /// `ALIBABA_CLOUD_PROFILE`).
    pub fn from_profile(profile: &str) -> Result<Credentials> {
        chain::resolve_static(&ProcessEnv, Some(profile))
    }

    /// Reads profile `profile` from the text of an Alibaba Cloud
    /// `credentials.ini` (types `access_key` and `sts`; the types that
    /// fetch credentials are an error here, see
    /// [`Credentials::from_default_chain`]). `Ok(None)` when the profile is
    /// absent or disabled.
    ///
    /// ```
    /// use ens_upload::Credentials;
    /// let ini = "[default]\ntype = access_key\naccess_key_id = AK\naccess_key_secret = S\n";
    /// let c = Credentials::from_ini_str(ini, "default").unwrap().unwrap();
    /// assert_eq!(c.access_key_id(), "AK");
    /// ```
    pub fn from_ini_str(text: &str, profile: &str) -> Result<Option<Credentials>> {
        let options = ProviderOptions::default();
        profile::from_ini(text, profile, Path::new("<text>"), &options, &ProcessEnv)?
            .map(profile::Found::into_fixed)
            .transpose()
    }

    /// Reads a profile from the text of the `aliyun` CLI's `config.json`
    /// (modes `AK` and `StsToken`; the modes that fetch credentials are an
    /// error here); `None` means its `current` profile.
    pub fn from_cli_config_str(text: &str, profile: Option<&str>) -> Result<Option<Credentials>> {
        let options = ProviderOptions::default();
        profile::from_cli_config(text, profile, Path::new("<text>"), &options, &ProcessEnv)?
            .map(profile::Found::into_fixed)
            .transpose()
    }

    /// The AccessKey id (not secret; sent in every request).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Whether these are STS credentials (they carry a security token).
    pub fn is_sts(&self) -> bool {
        self.security_token.is_some()
    }

    /// Where these credentials came from, e.g. `environment` or
    /// `credentials file /root/.alibabacloud/credentials.ini [default]`.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn secret(&self) -> &str {
        self.access_key_secret.expose()
    }

    pub(crate) fn security_token(&self) -> Option<&str> {
        self.security_token.as_ref().map(Secret::expose)
    }

    /// The strings that must never be shown (the secret and any token),
    /// for [`crate::redact`].
    pub(crate) fn secrets(&self) -> Vec<&str> {
        let mut out = vec![self.secret()];
        out.extend(self.security_token());
        out
    }

    /// Checks what the signer needs: a non-empty id and secret, no control characters.
    pub(crate) fn validate(&self) -> Result<()> {
        let check = |name: &str, value: &str| -> Result<()> {
            if value.is_empty() {
                return Err(Error::credentials(format!(
                    "{name} is empty ({})",
                    self.source
                )));
            }
            if value.chars().any(char::is_control) {
                return Err(Error::credentials(format!(
                    "{name} contains control characters ({})",
                    self.source
                )));
            }
            Ok(())
        };
        check("AccessKey id", &self.access_key_id)?;
        check("AccessKey secret", self.secret())?;
        if let Some(token) = self.security_token() {
            check("security token", token)?;
        }
        Ok(())
    }

    /// Says where these credentials came from (shown by
    /// [`Credentials::source`] and in errors; never put a secret here).
    pub fn with_source(mut self, source: impl Into<String>) -> Credentials {
        self.source = source.into();
        self
    }

    /// Sets when these credentials expire (an STS token's `Expiration`).
    /// A client refreshes them from their provider before then and never
    /// signs with them after. Times before 1970 count as 1970.
    pub fn with_expiration(mut self, expiration: SystemTime) -> Credentials {
        let secs = expiration
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.expiration = Some(i64::try_from(secs).unwrap_or(i64::MAX));
        self
    }

    /// When these credentials expire, if they do.
    pub fn expiration(&self) -> Option<SystemTime> {
        self.expiration
            .map(|s| UNIX_EPOCH + Duration::from_secs(u64::try_from(s).unwrap_or(0)))
    }

    /// [`Credentials::with_expiration`] in Unix seconds.
    pub(crate) fn with_expiration_unix(mut self, unix: i64) -> Credentials {
        self.expiration = Some(unix);
        self
    }

    pub(crate) fn expires_at(&self) -> Option<i64> {
        self.expiration
    }
}

/// Where the chain reads variables and the home directory from; tests swap it.
pub(crate) trait Env {
    /// The variable's raw value; `None` when unset.
    fn var_os(&self, name: &str) -> Option<std::ffi::OsString>;
    fn home(&self) -> Option<PathBuf>;

    /// The variable as text, `None` when unset or empty; one that is set
    /// but not UTF-8 is an error naming it (never silently "unset": a
    /// dropped security token would sign as a plain AccessKey).
    fn var(&self, name: &str) -> Result<Option<String>> {
        match self.var_os(name) {
            None => Ok(None),
            Some(v) => match v.into_string() {
                Ok(s) if s.is_empty() => Ok(None),
                Ok(s) => Ok(Some(s)),
                Err(_) => Err(Error::credentials(format!(
                    "{name} is set but is not valid UTF-8; fix or unset it"
                ))),
            },
        }
    }
}

pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var_os(&self, name: &str) -> Option<std::ffi::OsString> {
        std::env::var_os(name)
    }
    // `home_dir` is deprecated up to rustc 1.85 (our MSRV) for its Windows
    // behaviour, fixed in 1.86; it is only asked when HOME is unset.
    #[allow(deprecated)]
    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir)
    }
}

#[cfg(test)]
pub(crate) mod fake_env;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::sts("id", "SUPERSECRET", "TOKENVALUE");
        let d = format!("{c:?}");
        assert!(
            !d.contains("SUPERSECRET") && !d.contains("TOKENVALUE"),
            "{d}"
        );
    }

    /// An environment whose one variable holds bytes that are not UTF-8.
    struct NotUnicodeEnv(&'static str);
    impl Env for NotUnicodeEnv {
        fn var_os(&self, name: &str) -> Option<std::ffi::OsString> {
            use std::os::unix::ffi::OsStringExt;
            (name == self.0).then(|| std::ffi::OsString::from_vec(b"ab\xffcd".to_vec()))
        }
        fn home(&self) -> Option<PathBuf> {
            None
        }
    }

    #[test]
    fn a_variable_set_but_not_utf8_is_an_error_naming_it() {
        for name in [
            ENV_ACCESS_KEY_ID,
            ENV_SECURITY_TOKEN,
            ENV_ROLE_ARN,
            ENV_CREDENTIALS_FILE,
            ENV_PROFILE,
            ENV_CLI_PROFILE_DISABLED,
        ] {
            let e = chain::resolve_static(&NotUnicodeEnv(name), None).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(name) && text.contains("UTF-8"), "{text}");
        }
    }

    #[test]
    fn the_static_api_refuses_what_needs_the_network_saying_what_to_use() {
        let ini = "[role]\ntype = ram_role_arn\naccess_key_id = a\naccess_key_secret = SECRET-X\nrole_arn = acs:ram::1:role/r\n";
        let e = Credentials::from_ini_str(ini, "role").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("AssumeRole acs:ram::1:role/r"), "{text}");
        assert!(
            text.contains("DefaultCredentialsChain") && text.contains("Client::builder()"),
            "{text}"
        );
        assert!(!text.contains("SECRET-X"), "{text}");
        let json = r#"{"current":"x","profiles":[{"name":"x","mode":"External","process_command":"/bin/creds"}]}"#;
        let e = Credentials::from_cli_config_str(json, None).unwrap_err();
        assert!(e.to_string().contains("external process /bin/creds"), "{e}");
        assert!(Credentials::from_ini_str(ini, "absent").unwrap().is_none());
    }
}
