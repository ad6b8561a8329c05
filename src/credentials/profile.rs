//! Profiles: a section of `~/.alibabacloud/credentials.ini`, or a profile
//! of the aliyun CLI's `~/.aliyun/config.json`, turned into credentials
//! (AccessKey, STS) or into the provider that fetches them (roles, ECS,
//! OIDC, an external process).
//!
//! Field names follow the official libraries and the aliyun CLI, so the
//! files they write work here unchanged.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

use super::process::ExternalProcessProvider;
use super::sts::RoleOptions;
use super::{
    Credentials, CredentialsProvider, EcsRamRoleProvider, Env, OidcRoleProvider,
    RamRoleArnProvider, ENV_ECS_METADATA_DISABLED, ENV_STS_ENDPOINT,
};

/// `true`: the default chain does not read `~/.aliyun/config.json`.
pub const ENV_CLI_PROFILE_DISABLED: &str = "ALIBABA_CLOUD_CLI_PROFILE_DISABLED";

/// The most a credentials file or `config.json` may hold: far more than
/// any real one, far less than would hurt a device's memory.
pub(crate) const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// The INI types this crate understands.
const INI_TYPES: &str = "access_key, sts, ecs_ram_role, ram_role_arn or oidc_role_arn";
/// The config.json modes this crate understands.
const CLI_MODES: &str =
    "AK, StsToken, RamRoleArn, EcsRamRole, OIDC, ChainableRamRoleArn or External";

/// Endpoints the providers a profile makes are pointed at (the chain's
/// builder options); `None` leaves each provider's own default.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderOptions {
    pub(crate) sts_endpoint: Option<String>,
    pub(crate) ecs_metadata_endpoint: Option<String>,
}

/// What a profile (or another offline step of the chain) gives.
#[derive(Debug)]
pub(crate) enum Found {
    /// Credentials written down (AccessKey, STS): used as they are.
    Fixed(Credentials),
    /// A provider that asks a service or runs a process for them.
    Provider(Box<dyn CredentialsProvider>),
}

impl Found {
    /// For the static API (`Credentials::from_*`), which does not go to
    /// the network: fixed credentials, or an error saying what to use.
    pub(crate) fn into_fixed(self) -> Result<Credentials> {
        match self {
            Found::Fixed(c) => Ok(c),
            Found::Provider(p) => Err(Error::credentials(format!(
                "{} fetches credentials (over the network or from a process), which \
                 Credentials::from_* cannot do: build a client without credentials \
                 (Client::builder()) or use DefaultCredentialsChain",
                p.describe()
            ))),
        }
    }
}

/// Reads a credentials or configuration file: a regular file (a FIFO
/// fails at once instead of blocking), at most [`MAX_CONFIG_FILE_BYTES`],
/// UTF-8.
pub(crate) fn read_config_file(path: &Path) -> std::io::Result<String> {
    let bytes = crate::files::read_capped(path, MAX_CONFIG_FILE_BYTES)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// Whether an environment switch is `true` (any case).
pub(crate) fn env_true(env: &dyn Env, name: &str) -> Result<bool> {
    Ok(env
        .var(name)?
        .is_some_and(|v| v.eq_ignore_ascii_case("true")))
}

/// The settings of a role a profile asks for.
#[derive(Default)]
struct Role {
    arn: String,
    options: RoleOptions,
    external_id: Option<String>,
}

impl Role {
    fn assume_with(self, source: Found) -> RamRoleArnProvider {
        let p = match source {
            Found::Fixed(c) => RamRoleArnProvider::new(c, self.arn),
            Found::Provider(p) => RamRoleArnProvider::new(p, self.arn),
        };
        let p = p.with_options(self.options);
        match self.external_id {
            Some(id) => p.external_id(id),
            None => p,
        }
    }

    fn oidc(self, provider_arn: String, token_file: PathBuf) -> OidcRoleProvider {
        OidcRoleProvider::new(self.arn, provider_arn, token_file).with_options(self.options)
    }
}

/// The STS URL for a role from a profile: the builder's option, else our
/// `ALIBABA_CLOUD_STS_ENDPOINT`, else the profile's own endpoint or region
/// (`sts_endpoint`, `sts_region` + `enable_vpc`); `None` leaves the
/// provider's default (`ALIBABA_CLOUD_STS_REGION`, else the public one).
fn sts_for_profile(
    options: &ProviderOptions,
    env: &dyn Env,
    endpoint: Option<&str>,
    region: Option<&str>,
    vpc: bool,
) -> Result<Option<String>> {
    if let Some(url) = &options.sts_endpoint {
        return Ok(Some(url.clone()));
    }
    if endpoint.is_none() && region.is_none() {
        return Ok(None);
    }
    if let Some(url) = env.var(ENV_STS_ENDPOINT)? {
        return Ok(Some(url));
    }
    if let Some(e) = endpoint {
        return Ok(Some(if e.contains("://") {
            e.to_owned()
        } else {
            format!("https://{e}")
        }));
    }
    let region = region.unwrap_or_default();
    if !region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::credentials(format!(
            "sts_region must be a region id such as cn-hangzhou, not {region:?}"
        )));
    }
    let host = if vpc { "sts-vpc" } else { "sts" };
    Ok(Some(format!("https://{host}.{region}.aliyuncs.com")))
}

fn ecs_provider(
    options: &ProviderOptions,
    env: &dyn Env,
    role_name: Option<&str>,
    place: &str,
) -> Result<Found> {
    if env_true(env, ENV_ECS_METADATA_DISABLED)? {
        return Err(Error::credentials(format!(
            "{place} asks for the ECS RAM role, but {ENV_ECS_METADATA_DISABLED} is true: \
             unset it or choose another profile"
        )));
    }
    let mut p = EcsRamRoleProvider::new();
    if let Some(r) = role_name.filter(|r| !r.is_empty()) {
        p = p.role_name(r);
    }
    if let Some(url) = &options.ecs_metadata_endpoint {
        p = p.metadata_endpoint(url.clone());
    }
    Ok(Found::Provider(Box::new(p)))
}

/// Reads one profile of an Alibaba Cloud `credentials.ini`.
///
/// `Ok(None)` when the profile is absent or has `enable = false`; an error
/// when it is present but unusable (unsupported type, missing keys).
pub(crate) fn from_ini(
    text: &str,
    profile: &str,
    path: &Path,
    options: &ProviderOptions,
    env: &dyn Env,
) -> Result<Option<Found>> {
    let Some(fields) = ini_section(text, profile) else {
        return Ok(None);
    };
    let get = |key: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    if get("enable").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return Ok(None);
    }
    let place = format!("credentials file {} [{profile}]", path.display());
    let need = |key: &str| -> Result<String> {
        get(key)
            .map(str::to_owned)
            .ok_or_else(|| Error::credentials(format!("{place}: {key} is missing")))
    };
    let optional = |key: &str| get(key).map(str::to_owned);
    let role = |arn: String| -> Result<Role> {
        Ok(Role {
            arn,
            options: RoleOptions {
                session_name: optional("role_session_name"),
                duration_secs: match get("role_session_expiration") {
                    None => None,
                    Some(v) => Some(v.parse().map_err(|_| {
                        Error::credentials(format!(
                            "{place}: role_session_expiration must be a number of seconds"
                        ))
                    })?),
                },
                policy: optional("policy"),
                sts_endpoint: sts_for_profile(options, env, None, None, false)?,
            },
            external_id: None,
        })
    };
    let found = match get("type").unwrap_or("access_key") {
        "access_key" => Found::Fixed(
            Credentials::access_key(need("access_key_id")?, need("access_key_secret")?)
                .with_source(place),
        ),
        "sts" => Found::Fixed(
            Credentials::sts(
                need("access_key_id")?,
                need("access_key_secret")?,
                need("security_token")?,
            )
            .with_source(place),
        ),
        "ecs_ram_role" => ecs_provider(options, env, get("role_name"), &place)?,
        "ram_role_arn" => {
            let source =
                Credentials::access_key(need("access_key_id")?, need("access_key_secret")?)
                    .with_source(place.clone());
            let role = role(need("role_arn")?)?;
            Found::Provider(Box::new(role.assume_with(Found::Fixed(source))))
        }
        "oidc_role_arn" => {
            let provider_arn = need("oidc_provider_arn")?;
            let token_file = PathBuf::from(need("oidc_token_file_path")?);
            let role = role(need("role_arn")?)?;
            Found::Provider(Box::new(role.oidc(provider_arn, token_file)))
        }
        other => {
            return Err(Error::credentials(format!(
                "{place}: type {other:?} is not supported (use {INI_TYPES})"
            )))
        }
    };
    Ok(Some(found))
}

/// The `key = value` lines of section `[profile]` (keys lower-cased,
/// values unquoted), or `None` when there is no such section.
fn ini_section(text: &str, profile: &str) -> Option<Vec<(String, String)>> {
    let mut in_profile = false;
    let mut found = false;
    let mut fields = Vec::new();
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
    found.then_some(fields)
}

/// `config.json` as the aliyun CLI writes it (the fields this crate uses).
#[derive(Deserialize)]
struct CliConfig {
    #[serde(default)]
    current: String,
    #[serde(default)]
    profiles: Vec<CliProfile>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CliProfile {
    name: String,
    mode: String,
    access_key_id: String,
    access_key_secret: String,
    sts_token: String,
    ram_role_arn: String,
    ram_session_name: String,
    /// credentials-python reads this one for OIDC.
    role_session_name: String,
    expired_seconds: u32,
    policy: String,
    external_id: String,
    sts_region: String,
    sts_endpoint: String,
    enable_vpc: bool,
    ram_role_name: String,
    oidc_provider_arn: String,
    oidc_token_file: String,
    source_profile: String,
    process_command: String,
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Reads one profile of the aliyun CLI's `config.json`.
///
/// `profile` `None` means the file's `current` profile (else `default`).
/// `Ok(None)` when that profile is not in the file.
pub(crate) fn from_cli_config(
    text: &str,
    profile: Option<&str>,
    path: &Path,
    options: &ProviderOptions,
    env: &dyn Env,
) -> Result<Option<Found>> {
    let config: CliConfig = serde_json::from_str(text).map_err(|e| {
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
    if !config.profiles.iter().any(|p| p.name == name) {
        return Ok(None);
    }
    let reader = CliReader {
        config: &config,
        path,
        options,
        env,
    };
    reader.profile(&name, &mut Vec::new()).map(Some)
}

struct CliReader<'a> {
    config: &'a CliConfig,
    path: &'a Path,
    options: &'a ProviderOptions,
    env: &'a dyn Env,
}

impl CliReader<'_> {
    /// Profile `name`; `visiting` holds the chained profiles on the way
    /// here, for the cycle check.
    fn profile(&self, name: &str, visiting: &mut Vec<String>) -> Result<Found> {
        let place = format!("{} profile {name:?}", self.path.display());
        if visiting.iter().any(|v| v == name) {
            let mut cycle = visiting.clone();
            cycle.push(name.to_owned());
            return Err(Error::credentials(format!(
                "{}: the source_profile of ChainableRamRoleArn profiles form a cycle: {}",
                self.path.display(),
                cycle.join(" -> ")
            )));
        }
        let Some(p) = self.config.profiles.iter().find(|p| p.name == name) else {
            let by = visiting.last().map_or(String::new(), |v| {
                format!(" (the source_profile of profile {v:?})")
            });
            return Err(Error::credentials(format!(
                "{place}{by} is not in the file"
            )));
        };
        let need = |key: &str, value: &str| -> Result<String> {
            non_empty(value)
                .map(str::to_owned)
                .ok_or_else(|| Error::credentials(format!("{place}: {key} is missing")))
        };
        let role = |session_name: &str| -> Result<Role> {
            Ok(Role {
                arn: need("ram_role_arn", &p.ram_role_arn)?,
                options: RoleOptions {
                    session_name: non_empty(session_name).map(str::to_owned),
                    duration_secs: (p.expired_seconds > 0).then_some(p.expired_seconds),
                    policy: non_empty(&p.policy).map(str::to_owned),
                    sts_endpoint: sts_for_profile(
                        self.options,
                        self.env,
                        non_empty(&p.sts_endpoint),
                        non_empty(&p.sts_region),
                        p.enable_vpc,
                    )?,
                },
                external_id: non_empty(&p.external_id).map(str::to_owned),
            })
        };
        let access_key = || -> Result<Credentials> {
            Ok(Credentials::access_key(
                need("access_key_id", &p.access_key_id)?,
                need("access_key_secret", &p.access_key_secret)?,
            )
            .with_source(place.clone()))
        };
        let mode = p.mode.to_ascii_lowercase();
        Ok(match mode.as_str() {
            "ak" | "" => Found::Fixed(access_key()?),
            "ststoken" => Found::Fixed(
                Credentials::sts(
                    need("access_key_id", &p.access_key_id)?,
                    need("access_key_secret", &p.access_key_secret)?,
                    need("sts_token", &p.sts_token)?,
                )
                .with_source(place),
            ),
            "ramrolearn" => {
                let source = Found::Fixed(access_key()?);
                Found::Provider(Box::new(role(&p.ram_session_name)?.assume_with(source)))
            }
            "ecsramrole" => {
                ecs_provider(self.options, self.env, non_empty(&p.ram_role_name), &place)?
            }
            "oidc" => {
                let session = non_empty(&p.ram_session_name).unwrap_or(&p.role_session_name);
                let provider_arn = need("oidc_provider_arn", &p.oidc_provider_arn)?;
                let token_file = PathBuf::from(need("oidc_token_file", &p.oidc_token_file)?);
                Found::Provider(Box::new(role(session)?.oidc(provider_arn, token_file)))
            }
            "chainableramrolearn" => {
                let source_name = need("source_profile", &p.source_profile)?;
                let role = role(&p.ram_session_name)?;
                visiting.push(name.to_owned());
                let source = self.profile(&source_name, visiting)?;
                visiting.pop();
                Found::Provider(Box::new(role.assume_with(source)))
            }
            "external" => {
                let command = need("process_command", &p.process_command)?;
                Found::Provider(Box::new(ExternalProcessProvider::new(command)))
            }
            _ => {
                return Err(Error::credentials(format!(
                    "{place}: mode {:?} is not supported (use {CLI_MODES})",
                    p.mode
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::fake_env::FakeEnv;

    fn ini(text: &str, profile: &str, env: &FakeEnv) -> Result<Option<Found>> {
        let options = ProviderOptions::default();
        from_ini(text, profile, Path::new("/h/creds.ini"), &options, env)
    }

    fn cli(text: &str, profile: Option<&str>, env: &FakeEnv) -> Result<Option<Found>> {
        let options = ProviderOptions::default();
        from_cli_config(text, profile, Path::new("/h/config.json"), &options, env)
    }

    fn fixed(found: Found) -> Credentials {
        match found {
            Found::Fixed(c) => c,
            Found::Provider(p) => panic!("a provider, not fixed credentials: {p:?}"),
        }
    }

    fn provider(found: Found) -> String {
        match found {
            Found::Provider(p) => {
                let shown = format!("{p:?}");
                assert!(!shown.contains("SECRET-"), "{shown}");
                p.describe()
            }
            Found::Fixed(c) => panic!("fixed credentials, not a provider: {}", c.source()),
        }
    }

    const INI: &str = "# comment\n\
        [ak]\ntype = access_key\naccess_key_id = AKID\naccess_key_secret = SECRET-1\n\
        [untyped]\naccess_key_id = \"QUOTED\"\naccess_key_secret = SECRET-2\n\
        [sts]\ntype = sts\naccess_key_id = STSID\naccess_key_secret = SECRET-3\nsecurity_token = SECRET-TOKEN\n\
        [off]\nenable = false\ntype = access_key\naccess_key_id = x\naccess_key_secret = y\n\
        [ecs]\ntype = ecs_ram_role\nrole_name = uploader\n\
        [ecs_any]\ntype = ecs_ram_role\n\
        [role]\ntype = ram_role_arn\naccess_key_id = SRC\naccess_key_secret = SECRET-4\nrole_arn = acs:ram::1:role/up\nrole_session_name = cam-1\npolicy = {}\n\
        [role_nokey]\ntype = ram_role_arn\naccess_key_id = SRC\nrole_arn = acs:ram::1:role/up\n\
        [oidc]\ntype = oidc_role_arn\nrole_arn = acs:ram::1:role/k8s\noidc_provider_arn = acs:ram::1:oidc-provider/ack\noidc_token_file_path = /var/run/token\n\
        [oidc_nofile]\ntype = oidc_role_arn\nrole_arn = acs:ram::1:role/k8s\noidc_provider_arn = p\n\
        [rsa]\ntype = rsa_key_pair\n";

    #[test]
    fn every_ini_type_gives_its_credentials_or_provider() {
        let env = FakeEnv::default();
        let c = fixed(ini(INI, "ak", &env).unwrap().unwrap());
        assert_eq!(
            (c.access_key_id(), c.secret(), c.is_sts()),
            ("AKID", "SECRET-1", false)
        );
        assert_eq!(c.source(), "credentials file /h/creds.ini [ak]");
        let c = fixed(ini(INI, "untyped", &env).unwrap().unwrap());
        assert_eq!(c.access_key_id(), "QUOTED", "no type means access_key");
        let c = fixed(ini(INI, "sts", &env).unwrap().unwrap());
        assert_eq!(c.security_token(), Some("SECRET-TOKEN"));

        assert!(ini(INI, "off", &env).unwrap().is_none(), "enable = false");
        assert!(ini(INI, "absent", &env).unwrap().is_none());

        let d = provider(ini(INI, "ecs", &env).unwrap().unwrap());
        assert_eq!(d, "ECS RAM role uploader");
        let d = provider(ini(INI, "ecs_any", &env).unwrap().unwrap());
        assert_eq!(d, "ECS RAM role", "the role is discovered");
        let d = provider(ini(INI, "role", &env).unwrap().unwrap());
        assert_eq!(
            d,
            "AssumeRole acs:ram::1:role/up (source: credentials file /h/creds.ini [role])"
        );
        let d = provider(ini(INI, "oidc", &env).unwrap().unwrap());
        assert_eq!(
            d,
            "AssumeRoleWithOIDC acs:ram::1:role/k8s (token file /var/run/token)"
        );
    }

    #[test]
    fn broken_ini_profiles_are_errors_naming_the_key() {
        let mut env = FakeEnv::default();
        for (profile, want) in [
            ("role_nokey", "[role_nokey]: access_key_secret is missing"),
            (
                "oidc_nofile",
                "[oidc_nofile]: oidc_token_file_path is missing",
            ),
            (
                "rsa",
                "type \"rsa_key_pair\" is not supported (use access_key, sts",
            ),
        ] {
            let e = ini(INI, profile, &env).unwrap_err().to_string();
            assert!(e.contains(want), "{profile}: {e}");
            assert!(!e.contains("SECRET-"), "{e}");
        }
        env.set(ENV_ECS_METADATA_DISABLED, "TRUE");
        let e = ini(INI, "ecs", &env).unwrap_err().to_string();
        assert!(
            e.contains(ENV_ECS_METADATA_DISABLED) && e.contains("[ecs]"),
            "{e}"
        );
    }

    const CLI: &str = r#"{"current":"sts","profiles":[
        {"name":"ak","mode":"AK","access_key_id":"A1","access_key_secret":"SECRET-1"},
        {"name":"lower","mode":"ak","access_key_id":"A0","access_key_secret":"SECRET-0"},
        {"name":"sts","mode":"StsToken","access_key_id":"A2","access_key_secret":"SECRET-2","sts_token":"SECRET-T"},
        {"name":"role","mode":"RamRoleArn","access_key_id":"A3","access_key_secret":"SECRET-3",
         "ram_role_arn":"acs:ram::1:role/a","ram_session_name":"s","expired_seconds":900,"sts_region":"cn-shanghai"},
        {"name":"ecs","mode":"EcsRamRole","ram_role_name":"edge"},
        {"name":"oidc","mode":"OIDC","ram_role_arn":"acs:ram::1:role/o","oidc_provider_arn":"p","oidc_token_file":"/t"},
        {"name":"chained","mode":"ChainableRamRoleArn","source_profile":"role","ram_role_arn":"acs:ram::2:role/b"},
        {"name":"chained2","mode":"ChainableRamRoleArn","source_profile":"chained","ram_role_arn":"acs:ram::3:role/c"},
        {"name":"loop1","mode":"ChainableRamRoleArn","source_profile":"loop2","ram_role_arn":"x"},
        {"name":"loop2","mode":"ChainableRamRoleArn","source_profile":"loop3","ram_role_arn":"x"},
        {"name":"loop3","mode":"ChainableRamRoleArn","source_profile":"loop1","ram_role_arn":"x"},
        {"name":"self","mode":"ChainableRamRoleArn","source_profile":"self","ram_role_arn":"x"},
        {"name":"orphan","mode":"ChainableRamRoleArn","source_profile":"gone","ram_role_arn":"x"},
        {"name":"ext","mode":"External","process_command":"/usr/bin/fetch-creds --token SECRET-ARG"},
        {"name":"ext_empty","mode":"External"},
        {"name":"sso","mode":"CloudSSO"},
        {"name":"role_noarn","mode":"RamRoleArn","access_key_id":"A","access_key_secret":"SECRET-5"}]}"#;

    #[test]
    fn every_cli_mode_gives_its_credentials_or_provider() {
        let env = FakeEnv::default();
        let c = fixed(cli(CLI, None, &env).unwrap().unwrap());
        assert_eq!(
            (c.access_key_id(), c.security_token()),
            ("A2", Some("SECRET-T")),
            "current"
        );
        assert_eq!(c.source(), "/h/config.json profile \"sts\"");
        let c = fixed(cli(CLI, Some("ak"), &env).unwrap().unwrap());
        assert_eq!((c.access_key_id(), c.is_sts()), ("A1", false));
        let c = fixed(cli(CLI, Some("lower"), &env).unwrap().unwrap());
        assert_eq!(
            c.access_key_id(),
            "A0",
            "modes match in any case, as the CLI's"
        );
        assert!(cli(CLI, Some("absent"), &env).unwrap().is_none());

        let d = provider(cli(CLI, Some("role"), &env).unwrap().unwrap());
        assert_eq!(
            d,
            "AssumeRole acs:ram::1:role/a (source: /h/config.json profile \"role\")"
        );
        let d = provider(cli(CLI, Some("ecs"), &env).unwrap().unwrap());
        assert_eq!(d, "ECS RAM role edge");
        let d = provider(cli(CLI, Some("oidc"), &env).unwrap().unwrap());
        assert_eq!(d, "AssumeRoleWithOIDC acs:ram::1:role/o (token file /t)");
        let d = provider(cli(CLI, Some("chained2"), &env).unwrap().unwrap());
        assert_eq!(
            d,
            "AssumeRole acs:ram::3:role/c (source: AssumeRole acs:ram::2:role/b (source: \
             AssumeRole acs:ram::1:role/a (source: /h/config.json profile \"role\")))"
        );
        let d = provider(cli(CLI, Some("ext"), &env).unwrap().unwrap());
        assert_eq!(d, "external process /usr/bin/fetch-creds");
    }

    #[test]
    fn broken_cli_profiles_and_cycles_are_errors() {
        let env = FakeEnv::default();
        for (profile, want) in [
            ("loop1", "form a cycle: loop1 -> loop2 -> loop3 -> loop1"),
            ("loop2", "form a cycle: loop2 -> loop3 -> loop1 -> loop2"),
            ("self", "form a cycle: self -> self"),
            (
                "orphan",
                "profile \"gone\" (the source_profile of profile \"orphan\") is not in the file",
            ),
            (
                "ext_empty",
                "profile \"ext_empty\": process_command is missing",
            ),
            (
                "sso",
                "mode \"CloudSSO\" is not supported (use AK, StsToken",
            ),
            (
                "role_noarn",
                "profile \"role_noarn\": ram_role_arn is missing",
            ),
        ] {
            let e = cli(CLI, Some(profile), &env).unwrap_err().to_string();
            assert!(e.contains(want), "{profile}: {e}");
            assert!(!e.contains("SECRET-"), "{e}");
        }
    }

    #[test]
    fn a_malformed_cli_config_is_reported_without_its_values() {
        // A secret where a string was expected: serde_json's own message
        // would quote it.
        let env = FakeEnv::default();
        for text in [
            r#"{"current":"default","profiles":[{"name":"default","access_key_secret":["SECRET-DO-NOT-LEAK"]}]}"#,
            r#"{"current":"default","profiles":[{"name":"default","access_key_secret":7}], "SECRET-DO-NOT-LEAK"}"#,
            r#"{"profiles":"SECRET-DO-NOT-LEAK"}"#,
            r#"{"profiles":[{"name":"x","expired_seconds":"SECRET-DO-NOT-LEAK"}]}"#,
        ] {
            let e = cli(text, None, &env).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("SECRET-DO-NOT-LEAK"), "{shown}");
            assert!(
                shown.contains("/h/config.json") && shown.contains("line 1, column"),
                "{shown}"
            );
        }
    }

    #[test]
    fn a_profiles_sts_endpoint_comes_after_the_builders_and_ours() {
        let mut env = FakeEnv::default();
        let none = ProviderOptions::default();
        let ours = ProviderOptions {
            sts_endpoint: Some("http://127.0.0.1:9/sts".into()),
            ..Default::default()
        };
        let at = |o: &ProviderOptions, env: &FakeEnv, e: Option<&str>, r: Option<&str>, vpc| {
            sts_for_profile(o, env, e, r, vpc).unwrap()
        };
        assert_eq!(
            at(&none, &env, None, None, false),
            None,
            "the provider's default"
        );
        assert_eq!(
            at(&none, &env, None, Some("cn-shanghai"), false).as_deref(),
            Some("https://sts.cn-shanghai.aliyuncs.com")
        );
        assert_eq!(
            at(&none, &env, None, Some("cn-shanghai"), true).as_deref(),
            Some("https://sts-vpc.cn-shanghai.aliyuncs.com")
        );
        assert_eq!(
            at(
                &none,
                &env,
                Some("sts.example.com"),
                Some("cn-shanghai"),
                false
            )
            .as_deref(),
            Some("https://sts.example.com")
        );
        assert_eq!(
            at(&ours, &env, Some("sts.example.com"), None, false).as_deref(),
            Some("http://127.0.0.1:9/sts")
        );
        env.set(ENV_STS_ENDPOINT, "http://gateway:8080");
        assert_eq!(
            at(&none, &env, None, Some("cn-shanghai"), false).as_deref(),
            Some("http://gateway:8080")
        );
        assert!(sts_for_profile(&none, &FakeEnv::default(), None, Some("x/y"), false).is_err());
    }
}
