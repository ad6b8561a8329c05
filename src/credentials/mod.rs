//! AccessKey and STS credentials, the providers that give them, and the
//! cache that refreshes them before they expire.
//!
//! Secrets never reach `Debug`, `Display`, an error message or a log line.

mod cache;
mod ecs;
mod provider;
mod service;
mod sts;
mod uri;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

pub(crate) use cache::{CredentialCache, Current};
pub use ecs::{
    EcsRamRoleProvider, DEFAULT_ECS_METADATA_ENDPOINT, ENV_ECS_METADATA, ENV_ECS_METADATA_DISABLED,
    ENV_ECS_METADATA_ENDPOINT, ENV_IMDSV1_DISABLED,
};
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
        let env = ProcessEnv;
        match from_env_source(&env)? {
            Some(c) => Ok(c),
            None => Err(Error::credentials(format!(
                "{ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} are not set"
            ))),
        }
    }

    /// The default chain: the environment, then the credentials file
    /// (`ALIBABA_CLOUD_CREDENTIALS_FILE`, else `~/.alibabacloud/credentials.ini`;
    /// profile `ALIBABA_CLOUD_PROFILE`, else `default`), then
    /// `~/.aliyun/config.json` (profile `ALIBABA_CLOUD_PROFILE`, else its
    /// `current`). When it finds nothing, [`Error::NoCredentials`] names
    /// every place it looked.
    pub fn from_default_chain() -> Result<Credentials> {
        resolve_chain(&ProcessEnv, None)
    }

    /// The default chain with an explicit profile name for the credentials
    /// file and `config.json` (taking precedence over `ALIBABA_CLOUD_PROFILE`).
    pub fn from_profile(profile: &str) -> Result<Credentials> {
        resolve_chain(&ProcessEnv, Some(profile))
    }

    /// Reads profile `profile` from the text of an Alibaba Cloud
    /// `credentials.ini` (types `access_key` and `sts`). `Ok(None)` when the
    /// profile is absent or disabled.
    ///
    /// ```
    /// use ens_upload::Credentials;
    /// let ini = "[default]\ntype = access_key\naccess_key_id = AK\naccess_key_secret = S\n";
    /// let c = Credentials::from_ini_str(ini, "default").unwrap().unwrap();
    /// assert_eq!(c.access_key_id(), "AK");
    /// ```
    pub fn from_ini_str(text: &str, profile: &str) -> Result<Option<Credentials>> {
        credentials_from_ini(text, profile, Path::new("<text>"))
    }

    /// Reads a profile from the text of the `aliyun` CLI's `config.json`
    /// (modes `AK` and `StsToken`); `None` means its `current` profile.
    pub fn from_cli_config_str(text: &str, profile: Option<&str>) -> Result<Option<Credentials>> {
        credentials_from_cli_config(text, profile, Path::new("<text>"))
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
    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir)
    }
}

fn from_env_source(env: &dyn Env) -> Result<Option<Credentials>> {
    let id = env.var(ENV_ACCESS_KEY_ID)?;
    let secret = env.var(ENV_ACCESS_KEY_SECRET)?;
    let token = env.var(ENV_SECURITY_TOKEN)?;
    match (id, secret) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::credentials(format!(
            "{ENV_ACCESS_KEY_ID} is set but {ENV_ACCESS_KEY_SECRET} is not"
        ))),
        (None, Some(_)) => Err(Error::credentials(format!(
            "{ENV_ACCESS_KEY_SECRET} is set but {ENV_ACCESS_KEY_ID} is not"
        ))),
        (Some(id), Some(secret)) => {
            let c = match token {
                Some(t) => Credentials::sts(id, secret, t),
                None => Credentials::access_key(id, secret),
            };
            Ok(Some(c.with_source("environment")))
        }
    }
}

/// The most a credentials file or `config.json` may hold: far more than
/// any real one, far less than would hurt a device's memory.
pub(crate) const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// Reads a credentials or configuration file: a regular file (a FIFO
/// fails at once instead of blocking), at most [`MAX_CONFIG_FILE_BYTES`],
/// UTF-8.
fn read_config_file(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = crate::files::read_capped(path, MAX_CONFIG_FILE_BYTES)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// Runs the default chain against `env`; `profile` overrides `ALIBABA_CLOUD_PROFILE`.
pub(crate) fn resolve_chain(env: &dyn Env, profile: Option<&str>) -> Result<Credentials> {
    let mut looked = Vec::new();

    match from_env_source(env)? {
        Some(c) => return Ok(c),
        None => looked.push(format!(
            "environment ({ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET} not set)"
        )),
    }

    let env_profile = env.var(ENV_PROFILE)?;
    let chosen = profile.map(str::to_owned).or(env_profile);

    // The credentials file.
    let (ini_path, explicit) = match env.var(ENV_CREDENTIALS_FILE)? {
        Some(p) => (Some(PathBuf::from(p)), true),
        None => (
            env.home()
                .map(|h| h.join(".alibabacloud").join("credentials.ini")),
            false,
        ),
    };
    let ini_profile = chosen.clone().unwrap_or_else(|| "default".into());
    match &ini_path {
        Some(path) => match read_config_file(path) {
            Ok(text) => match credentials_from_ini(&text, &ini_profile, path)? {
                Some(c) => return Ok(c),
                None => looked.push(format!(
                    "credentials file {} (no profile [{ini_profile}])",
                    path.display()
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                looked.push(format!("credentials file {} (not found)", path.display()))
            }
            Err(e) => {
                return Err(Error::credentials(format!(
                    "cannot read credentials file {}{}: {e}",
                    path.display(),
                    if explicit {
                        format!(" (named by {ENV_CREDENTIALS_FILE})")
                    } else {
                        String::new()
                    }
                )))
            }
        },
        None => looked.push("credentials file (no home directory)".into()),
    }

    // The aliyun CLI configuration.
    match env.home().map(|h| h.join(".aliyun").join("config.json")) {
        Some(path) => match read_config_file(&path) {
            Ok(text) => match credentials_from_cli_config(&text, chosen.as_deref(), &path)? {
                Some(c) => return Ok(c),
                None => looked.push(format!(
                    "{} (no profile {})",
                    path.display(),
                    chosen.as_deref().unwrap_or("named by its \"current\"")
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                looked.push(format!("{} (not found)", path.display()))
            }
            Err(e) => {
                return Err(Error::credentials(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        },
        None => looked.push("~/.aliyun/config.json (no home directory)".into()),
    }

    Err(Error::NoCredentials { looked_in: looked })
}

/// Reads one profile of an Alibaba Cloud `credentials.ini`.
///
/// `Ok(None)` when the profile is absent or has `enable = false`; an error
/// when it is present but unusable (unsupported type, missing keys).
pub(crate) fn credentials_from_ini(
    text: &str,
    profile: &str,
    path: &Path,
) -> Result<Option<Credentials>> {
    let mut in_profile = false;
    let mut found = false;
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').unwrap_or(rest).trim();
            in_profile = name == profile;
            found |= in_profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            fields.push((k.trim().to_ascii_lowercase(), v.to_owned()));
        }
    }
    if !found {
        return Ok(None);
    }
    let get = |key: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let place = format!("credentials file {} [{profile}]", path.display());
    if get("enable").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return Ok(None);
    }
    let need = |key: &str| -> Result<String> {
        match get(key) {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(Error::credentials(format!("{place}: {key} is missing"))),
        }
    };
    let kind = get("type").unwrap_or("access_key");
    let creds = match kind {
        "access_key" => Credentials::access_key(need("access_key_id")?, need("access_key_secret")?),
        "sts" => Credentials::sts(
            need("access_key_id")?,
            need("access_key_secret")?,
            need("security_token")?,
        ),
        other => {
            return Err(Error::credentials(format!(
                "{place}: type {other:?} is not supported (use access_key or sts)"
            )))
        }
    };
    Ok(Some(creds.with_source(place)))
}

/// Reads one profile of the `aliyun` CLI's `config.json`.
///
/// `profile` None means the file's `current` profile (else `default`).
pub(crate) fn credentials_from_cli_config(
    text: &str,
    profile: Option<&str>,
    path: &Path,
) -> Result<Option<Credentials>> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        current: String,
        #[serde(default)]
        profiles: Vec<Profile>,
    }
    #[derive(serde::Deserialize)]
    struct Profile {
        #[serde(default)]
        name: String,
        #[serde(default)]
        mode: String,
        #[serde(default)]
        access_key_id: String,
        #[serde(default)]
        access_key_secret: String,
        #[serde(default)]
        sts_token: String,
    }
    let config: Config = serde_json::from_str(text).map_err(|e| {
        // Only the kind and the place: serde_json's own text quotes the
        // value it choked on, which may be a secret.
        let what = match e.classify() {
            serde_json::error::Category::Io => "could not be read",
            serde_json::error::Category::Syntax => "is not valid JSON",
            serde_json::error::Category::Data => "does not have the aliyun CLI's shape",
            serde_json::error::Category::Eof => "ends too early",
        };
        Error::credentials(format!(
            "{} {what} (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let name = match profile {
        Some(p) => p.to_owned(),
        None if !config.current.is_empty() => config.current.clone(),
        None => "default".to_owned(),
    };
    let Some(p) = config.profiles.iter().find(|p| p.name == name) else {
        return Ok(None);
    };
    let place = format!("{} profile {name:?}", path.display());
    let need = |key: &str, value: &str| -> Result<String> {
        if value.is_empty() {
            Err(Error::credentials(format!("{place}: {key} is missing")))
        } else {
            Ok(value.to_owned())
        }
    };
    let creds = match p.mode.as_str() {
        "AK" | "" => Credentials::access_key(
            need("access_key_id", &p.access_key_id)?,
            need("access_key_secret", &p.access_key_secret)?,
        ),
        "StsToken" => Credentials::sts(
            need("access_key_id", &p.access_key_id)?,
            need("access_key_secret", &p.access_key_secret)?,
            need("sts_token", &p.sts_token)?,
        ),
        other => {
            return Err(Error::credentials(format!(
                "{place}: mode {other:?} is not supported (use AK or StsToken)"
            )))
        }
    };
    Ok(Some(creds.with_source(place)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv {
        vars: HashMap<&'static str, String>,
        home: Option<PathBuf>,
    }
    impl Env for FakeEnv {
        fn var_os(&self, name: &str) -> Option<std::ffi::OsString> {
            self.vars.get(name).map(Into::into)
        }
        fn home(&self) -> Option<PathBuf> {
            self.home.clone()
        }
    }

    fn temp_home(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ens-upload-cred-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn env_wins_and_sts_token_is_picked_up() {
        let env = FakeEnv {
            vars: HashMap::from([
                (ENV_ACCESS_KEY_ID, "id".to_string()),
                (ENV_ACCESS_KEY_SECRET, "sec".to_string()),
                (ENV_SECURITY_TOKEN, "tok".to_string()),
            ]),
            home: None,
        };
        let c = resolve_chain(&env, None).unwrap();
        assert_eq!(c.access_key_id(), "id");
        assert_eq!(c.secret(), "sec");
        assert_eq!(c.security_token(), Some("tok"));
        assert_eq!(c.source(), "environment");
    }

    #[test]
    fn half_set_env_is_an_error_not_a_fallthrough() {
        let env = FakeEnv {
            vars: HashMap::from([(ENV_ACCESS_KEY_ID, "id".to_string())]),
            home: None,
        };
        let e = resolve_chain(&env, None).unwrap_err();
        assert!(e.to_string().contains(ENV_ACCESS_KEY_SECRET), "{e}");
    }

    #[test]
    fn ini_profiles_and_types() {
        let home = temp_home("ini");
        std::fs::create_dir_all(home.join(".alibabacloud")).unwrap();
        std::fs::write(
            home.join(".alibabacloud/credentials.ini"),
            "# comment\n[default]\nenable = true\ntype = access_key\naccess_key_id = AKID\naccess_key_secret = AKSECRET\n\n[dev]\ntype = sts\naccess_key_id = STSID\naccess_key_secret = STSSECRET\nsecurity_token = STSTOKEN\n[off]\nenable = false\ntype = access_key\naccess_key_id = x\naccess_key_secret = y\n[role]\ntype = ecs_ram_role\n",
        )
        .unwrap();
        let mut env = FakeEnv {
            vars: HashMap::new(),
            home: Some(home.clone()),
        };
        let c = resolve_chain(&env, None).unwrap();
        assert_eq!((c.access_key_id(), c.secret()), ("AKID", "AKSECRET"));
        assert!(c.source().contains("[default]"));

        env.vars.insert(ENV_PROFILE, "dev".into());
        let c = resolve_chain(&env, None).unwrap();
        assert_eq!(c.security_token(), Some("STSTOKEN"));

        // An explicit profile beats the env profile.
        let c = resolve_chain(&env, Some("default")).unwrap();
        assert_eq!(c.access_key_id(), "AKID");

        let e = resolve_chain(&env, Some("role")).unwrap_err();
        assert!(e.to_string().contains("ecs_ram_role"), "{e}");

        // A disabled profile is skipped and the chain names every place.
        let e = resolve_chain(&env, Some("off")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("environment"), "{msg}");
        assert!(msg.contains("credentials.ini"), "{msg}");
        assert!(msg.contains("config.json"), "{msg}");
    }

    #[test]
    fn a_malformed_cli_config_is_reported_without_its_values() {
        // A secret where a string list was expected: serde_json's own
        // message would quote it.
        for text in [
            r#"{"current":"default","profiles":[{"name":"default","access_key_secret":["SECRET-DO-NOT-LEAK"]}]}"#,
            r#"{"current":"default","profiles":[{"name":"default","access_key_secret":7}], "SECRET-DO-NOT-LEAK"}"#,
            r#"{"profiles":"SECRET-DO-NOT-LEAK"}"#,
        ] {
            let e = Credentials::from_cli_config_str(text, None).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("SECRET-DO-NOT-LEAK"), "{shown}");
            assert!(shown.contains("line 1, column"), "{shown}");
        }
    }

    #[test]
    fn cli_config_current_and_modes() {
        let home = temp_home("cli");
        std::fs::create_dir_all(home.join(".aliyun")).unwrap();
        std::fs::write(
            home.join(".aliyun/config.json"),
            r#"{"current":"sts","profiles":[
                {"name":"default","mode":"AK","access_key_id":"A1","access_key_secret":"S1"},
                {"name":"sts","mode":"StsToken","access_key_id":"A2","access_key_secret":"S2","sts_token":"T2"},
                {"name":"role","mode":"RamRoleArn"}]}"#,
        )
        .unwrap();
        let env = FakeEnv {
            vars: HashMap::new(),
            home: Some(home),
        };
        let c = resolve_chain(&env, None).unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret(), c.security_token()),
            ("A2", "S2", Some("T2"))
        );
        let c = resolve_chain(&env, Some("default")).unwrap();
        assert_eq!((c.access_key_id(), c.secret()), ("A1", "S1"));
        let e = resolve_chain(&env, Some("role")).unwrap_err();
        assert!(e.to_string().contains("RamRoleArn"));
    }

    #[test]
    fn explicit_credentials_file_that_is_missing_is_an_error() {
        let env = FakeEnv {
            vars: HashMap::from([(ENV_CREDENTIALS_FILE, "/nonexistent/creds.ini".to_string())]),
            home: None,
        };
        let e = resolve_chain(&env, None).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/creds.ini"), "{e}");
    }

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
            ENV_CREDENTIALS_FILE,
            ENV_PROFILE,
        ] {
            let e = resolve_chain(&NotUnicodeEnv(name), None).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(name) && text.contains("UTF-8"), "{text}");
        }
    }
}
