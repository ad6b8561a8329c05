//! The default credentials chain, in the official libraries' order:
//! the environment, the OIDC role (RRSA), the aliyun CLI's `config.json`,
//! the credentials file, the ECS RAM role, the credentials URI.
//!
//! The offline steps (environment, files) are decided when the chain is
//! built: a broken profile is an error then, not a surprise at the first
//! request. The network steps (ECS, URI) are asked at the first fetch, in
//! order; the first that gives credentials is kept for every refresh after
//! (as credentials-go and credentials-python do).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};

use super::profile::{self, Found, ProviderOptions};
use super::{
    sts, Credentials, CredentialsProvider, CredentialsUriProvider, EcsRamRoleProvider, Env,
    FetchContext, ProcessEnv, DEFAULT_ECS_METADATA_ENDPOINT, ENV_ACCESS_KEY_ID,
    ENV_ACCESS_KEY_SECRET, ENV_CLI_PROFILE_DISABLED, ENV_CREDENTIALS_FILE, ENV_CREDENTIALS_URI,
    ENV_ECS_METADATA_DISABLED, ENV_ECS_METADATA_ENDPOINT, ENV_OIDC_PROVIDER_ARN,
    ENV_OIDC_TOKEN_FILE, ENV_PROFILE, ENV_ROLE_ARN, ENV_SECURITY_TOKEN,
};

/// The default chain: where a client built without credentials gets them.
///
/// Order: the environment (`ALIBABA_CLOUD_ACCESS_KEY_ID`...), the OIDC
/// role (`ALIBABA_CLOUD_ROLE_ARN`...), the profile of
/// `~/.aliyun/config.json`, the profile of
/// `~/.alibabacloud/credentials.ini`, the ECS RAM role (unless
/// `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`), the credentials URI (when
/// `ALIBABA_CLOUD_CREDENTIALS_URI` is set). See `docs/credentials.md`.
///
/// ```
/// use ens_upload::{Client, DefaultCredentialsChain};
/// # std::env::set_var("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-example");
/// # std::env::set_var("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret");
/// let chain = DefaultCredentialsChain::builder()
///     .profile("edge")
///     .sts_endpoint("https://sts.cn-hangzhou.aliyuncs.com")
///     .build()?;
/// println!("credentials from {}", ens_upload::CredentialsProvider::describe(&chain));
/// let client = Client::builder().credentials_provider(chain).build()?;
/// # Ok::<(), ens_upload::Error>(())
/// ```
pub struct DefaultCredentialsChain {
    chosen: Chosen,
}

enum Chosen {
    /// An offline step found credentials written down.
    Fixed(Credentials),
    /// An offline step found a provider (a role, OIDC, ECS by profile...).
    Provider(Box<dyn CredentialsProvider>),
    /// Nothing offline: the network steps, asked at the first fetch.
    Network {
        looked_in: Vec<String>,
        steps: Vec<NetworkStep>,
        /// The step that worked, kept for later refreshes.
        kept: Mutex<Option<usize>>,
    },
}

enum NetworkStep {
    Skipped(String),
    Ask {
        place: String,
        provider: Box<dyn CredentialsProvider>,
    },
}

impl fmt::Debug for DefaultCredentialsChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultCredentialsChain")
            .field("source", &self.describe())
            .finish()
    }
}

/// Options of the [`DefaultCredentialsChain`]; see
/// [`DefaultCredentialsChain::builder`].
#[derive(Debug, Clone, Default)]
pub struct DefaultCredentialsChainBuilder {
    profile: Option<String>,
    options: ProviderOptions,
}

impl DefaultCredentialsChainBuilder {
    /// The profile to read from `config.json` and `credentials.ini`
    /// (before `ALIBABA_CLOUD_PROFILE`).
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// The STS URL for the roles the chain assumes (OIDC, profiles with a
    /// role), before `ALIBABA_CLOUD_STS_ENDPOINT` and the profiles' own
    /// `sts_region`: for private clouds, gateways and tests (`http://`
    /// allowed).
    pub fn sts_endpoint(mut self, url: impl Into<String>) -> Self {
        self.options.sts_endpoint = Some(url.into());
        self
    }

    /// The ECS metadata server's URL (default `http://100.100.100.200`,
    /// or `ALIBABA_CLOUD_ECS_METADATA_ENDPOINT`): for gateways and tests.
    pub fn ecs_metadata_endpoint(mut self, url: impl Into<String>) -> Self {
        self.options.ecs_metadata_endpoint = Some(url.into());
        self
    }

    /// Reads the environment and the files now. Fails when a step is set
    /// up but broken (half the environment variables, a profile missing a
    /// key, an unreadable `ALIBABA_CLOUD_CREDENTIALS_FILE`), and with
    /// [`Error::NoCredentials`] when nothing is found offline and neither
    /// network step is on.
    pub fn build(self) -> Result<DefaultCredentialsChain> {
        self.build_with(&ProcessEnv)
    }

    pub(crate) fn build_with(&self, env: &dyn Env) -> Result<DefaultCredentialsChain> {
        let (found, looked_in) = offline(env, self.profile.as_deref(), &self.options)?;
        let chosen = match found {
            Some(Found::Fixed(c)) => Chosen::Fixed(c),
            Some(Found::Provider(p)) => Chosen::Provider(p),
            None => {
                let steps = network_steps(env, &self.options)?;
                if !steps.iter().any(|s| matches!(s, NetworkStep::Ask { .. })) {
                    let mut looked_in = looked_in;
                    looked_in.extend(steps.into_iter().map(|s| match s {
                        NetworkStep::Skipped(why) => why,
                        NetworkStep::Ask { place, .. } => place,
                    }));
                    return Err(Error::NoCredentials { looked_in });
                }
                Chosen::Network {
                    looked_in,
                    steps,
                    kept: Mutex::new(None),
                }
            }
        };
        Ok(DefaultCredentialsChain { chosen })
    }
}

impl DefaultCredentialsChain {
    /// A builder with no profile and the default endpoints.
    pub fn builder() -> DefaultCredentialsChainBuilder {
        DefaultCredentialsChainBuilder::default()
    }

    /// `DefaultCredentialsChain::builder().build()`.
    pub fn new() -> Result<DefaultCredentialsChain> {
        DefaultCredentialsChain::builder().build()
    }

    /// The credentials an offline step found written down, if it did:
    /// a client signs with them as they are, no cache needed.
    pub(crate) fn fixed_credentials(&self) -> Option<&Credentials> {
        match &self.chosen {
            Chosen::Fixed(c) => Some(c),
            _ => None,
        }
    }
}

impl CredentialsProvider for DefaultCredentialsChain {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        let (looked_in, steps, kept) = match &self.chosen {
            Chosen::Fixed(c) => return Ok(c.clone()),
            Chosen::Provider(p) => return p.fetch(ctx),
            Chosen::Network {
                looked_in,
                steps,
                kept,
            } => (looked_in, steps, kept),
        };
        let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(NetworkStep::Ask { provider, .. }) = kept.and_then(|i| steps.get(i)) {
            return provider.fetch(ctx);
        }
        let mut looked_in = looked_in.clone();
        for (i, step) in steps.iter().enumerate() {
            match step {
                NetworkStep::Skipped(why) => looked_in.push(why.clone()),
                NetworkStep::Ask { place, provider } => match provider.fetch(ctx) {
                    Ok(c) => {
                        log::info!("the default chain found credentials: {place}");
                        *kept = Some(i);
                        return Ok(c);
                    }
                    Err(e) => looked_in.push(format!("{place} (failed: {e})")),
                },
            }
        }
        Err(Error::NoCredentials { looked_in })
    }

    fn describe(&self) -> String {
        match &self.chosen {
            Chosen::Fixed(c) => c.source().to_owned(),
            Chosen::Provider(p) => p.describe(),
            Chosen::Network { steps, kept, .. } => {
                // Not while a fetch walks the chain: the plain description then.
                let kept = kept.try_lock().ok().and_then(|k| *k);
                if let Some(NetworkStep::Ask { provider, .. }) = kept.and_then(|i| steps.get(i)) {
                    return provider.describe();
                }
                let asked: Vec<&str> = steps
                    .iter()
                    .filter_map(|s| match s {
                        NetworkStep::Ask { place, .. } => Some(place.as_str()),
                        NetworkStep::Skipped(_) => None,
                    })
                    .collect();
                format!("default chain ({})", asked.join(", then "))
            }
        }
    }
}

/// The ECS RAM role and the credentials URI: asked, or why not.
fn network_steps(env: &dyn Env, options: &ProviderOptions) -> Result<Vec<NetworkStep>> {
    let mut steps = Vec::new();
    if profile::env_true(env, ENV_ECS_METADATA_DISABLED)? {
        steps.push(NetworkStep::Skipped(format!(
            "ECS RAM role (skipped: {ENV_ECS_METADATA_DISABLED}=true)"
        )));
    } else {
        let mut ecs = EcsRamRoleProvider::new();
        let endpoint = match &options.ecs_metadata_endpoint {
            Some(url) => {
                ecs = ecs.metadata_endpoint(url.clone());
                url.clone()
            }
            None => env
                .var(ENV_ECS_METADATA_ENDPOINT)?
                .unwrap_or_else(|| DEFAULT_ECS_METADATA_ENDPOINT.to_owned()),
        };
        steps.push(NetworkStep::Ask {
            place: format!("ECS RAM role at {endpoint}"),
            provider: Box::new(ecs),
        });
    }
    match env.var(ENV_CREDENTIALS_URI)? {
        Some(uri) => {
            let provider = CredentialsUriProvider::new(uri);
            steps.push(NetworkStep::Ask {
                place: provider.describe(),
                provider: Box::new(provider),
            });
        }
        None => steps.push(NetworkStep::Skipped(format!(
            "credentials URI ({ENV_CREDENTIALS_URI} not set)"
        ))),
    }
    Ok(steps)
}

/// The offline steps in order: what the first that has something gives,
/// and where the others looked (and why they found nothing).
pub(crate) fn offline(
    env: &dyn Env,
    profile: Option<&str>,
    options: &ProviderOptions,
) -> Result<(Option<Found>, Vec<String>)> {
    let mut looked = Vec::new();

    match from_env_source(env)? {
        Some(c) => return Ok((Some(Found::Fixed(c)), looked)),
        None => looked.push(format!(
            "environment ({ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET} not set)"
        )),
    }

    match sts::oidc_from_env(env)? {
        Some(mut p) => {
            if let Some(url) = &options.sts_endpoint {
                p = p.sts_endpoint(url.clone());
            }
            return Ok((Some(Found::Provider(Box::new(p))), looked));
        }
        None => looked.push(format!(
            "OIDC role ({ENV_ROLE_ARN}, {ENV_OIDC_PROVIDER_ARN} and {ENV_OIDC_TOKEN_FILE} not set)"
        )),
    }

    let chosen = match profile {
        Some(p) => Some(p.to_owned()),
        None => env.var(ENV_PROFILE)?,
    };

    // The aliyun CLI's configuration.
    if profile::env_true(env, ENV_CLI_PROFILE_DISABLED)? {
        looked.push(format!(
            "~/.aliyun/config.json (skipped: {ENV_CLI_PROFILE_DISABLED}=true)"
        ));
    } else {
        match env.home().map(|h| h.join(".aliyun").join("config.json")) {
            Some(path) => match profile::read_config_file(&path) {
                Ok(text) => {
                    match profile::from_cli_config(&text, chosen.as_deref(), &path, options, env)? {
                        Some(found) => return Ok((Some(found), looked)),
                        None => looked.push(format!(
                            "{} (no profile {})",
                            path.display(),
                            chosen
                                .as_deref()
                                .map_or("named by its \"current\"".to_owned(), |p| format!(
                                    "{p:?}"
                                ))
                        )),
                    }
                }
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
    }

    // The credentials file.
    let (ini_path, explicit) = match env.var(ENV_CREDENTIALS_FILE)? {
        Some(p) => (Some(PathBuf::from(p)), true),
        None => (
            env.home()
                .map(|h| h.join(".alibabacloud").join("credentials.ini")),
            false,
        ),
    };
    let ini_profile = chosen.unwrap_or_else(|| "default".into());
    match &ini_path {
        Some(path) => match profile::read_config_file(path) {
            Ok(text) => match profile::from_ini(&text, &ini_profile, path, options, env)? {
                Some(found) => return Ok((Some(found), looked)),
                None => looked.push(format!(
                    "credentials file {} (no profile [{ini_profile}], or it has enable = false)",
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
    Ok((None, looked))
}

/// `ALIBABA_CLOUD_ACCESS_KEY_ID`/`_SECRET` and, when set,
/// `ALIBABA_CLOUD_SECURITY_TOKEN`; only one of the pair is an error.
pub(crate) fn from_env_source(env: &dyn Env) -> Result<Option<Credentials>> {
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

/// The static API's chain (`Credentials::from_default_chain`,
/// `from_profile`): the offline steps only, fixed credentials only.
pub(crate) fn resolve_static(env: &dyn Env, profile: Option<&str>) -> Result<Credentials> {
    match offline(env, profile, &ProviderOptions::default())? {
        (Some(found), _) => found.into_fixed(),
        (None, mut looked_in) => {
            looked_in.push(
                "ECS RAM role and credentials URI (not asked: Credentials::from_default_chain \
                 reads only the environment and files; a client built without credentials asks them)"
                    .to_owned(),
            );
            Err(Error::NoCredentials { looked_in })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::fake_env::{
        answering_server, routing_server, temp_home, with_context, FakeEnv,
    };
    use crate::credentials::{ENV_ROLE_SESSION_NAME, ENV_STS_ENDPOINT};
    use std::sync::mpsc::Receiver;
    use std::time::Duration;

    fn chain(env: &FakeEnv) -> Result<DefaultCredentialsChain> {
        DefaultCredentialsChain::builder().build_with(env)
    }

    fn looked_in(e: Error) -> Vec<String> {
        match e {
            Error::NoCredentials { looked_in } => looked_in,
            other => panic!("{other:?}"),
        }
    }

    fn requests(rx: &Receiver<String>) -> Vec<String> {
        std::iter::from_fn(|| rx.recv_timeout(Duration::from_millis(200)).ok()).collect()
    }

    const NO_NETWORK: &[(&str, &str)] = &[(ENV_ECS_METADATA_DISABLED, "true")];

    #[test]
    fn env_beats_oidc_beats_cli_config_beats_ini_beats_the_network() {
        let home = temp_home("order");
        std::fs::write(
            home.join(".aliyun/config.json"),
            r#"{"current":"default","profiles":[{"name":"default","mode":"AK","access_key_id":"CLI","access_key_secret":"s"}]}"#,
        )
        .unwrap();
        let ini = home.join(".alibabacloud/credentials.ini");
        std::fs::write(
            &ini,
            "[default]\naccess_key_id = INI\naccess_key_secret = s\n",
        )
        .unwrap();
        let mut env = FakeEnv::new(
            &[
                (ENV_ACCESS_KEY_ID, "ENV"),
                (ENV_ACCESS_KEY_SECRET, "s"),
                (ENV_ROLE_ARN, "acs:ram::1:role/oidc"),
                (ENV_OIDC_PROVIDER_ARN, "acs:ram::1:oidc-provider/p"),
                (ENV_OIDC_TOKEN_FILE, "/token"),
            ],
            Some(home.clone()),
        );
        let c = chain(&env).unwrap();
        assert_eq!(c.fixed_credentials().unwrap().access_key_id(), "ENV");
        assert_eq!(c.describe(), "environment");

        env.vars.remove(ENV_ACCESS_KEY_ID);
        env.vars.remove(ENV_ACCESS_KEY_SECRET);
        let c = chain(&env).unwrap();
        assert!(c.fixed_credentials().is_none());
        assert_eq!(
            c.describe(),
            "AssumeRoleWithOIDC acs:ram::1:role/oidc (token file /token)"
        );

        // The CLI's config.json now comes before the credentials file.
        env.vars.remove(ENV_ROLE_ARN);
        let e = chain(&env).unwrap_err().to_string();
        assert!(
            e.contains("half configured") && e.contains(ENV_ROLE_ARN),
            "{e}"
        );
        env.vars.remove(ENV_OIDC_PROVIDER_ARN);
        env.vars.remove(ENV_OIDC_TOKEN_FILE);
        let c = chain(&env).unwrap();
        assert_eq!(c.fixed_credentials().unwrap().access_key_id(), "CLI");

        env.set(ENV_CLI_PROFILE_DISABLED, "true");
        let c = chain(&env).unwrap();
        assert_eq!(c.fixed_credentials().unwrap().access_key_id(), "INI");
        assert!(c.describe().contains("credentials.ini [default]"));

        std::fs::remove_file(&ini).unwrap();
        let c = chain(&env).unwrap();
        assert_eq!(
            c.describe(),
            "default chain (ECS RAM role at http://100.100.100.200)"
        );
        env.set(ENV_CREDENTIALS_URI, "http://127.0.0.1:1/creds?key=SECRET-Q");
        let c = chain(&env).unwrap();
        assert_eq!(
            c.describe(),
            "default chain (ECS RAM role at http://100.100.100.200, then credentials URI http://127.0.0.1:1/creds)"
        );

        // Nothing anywhere, the network off: every place, in order, with why.
        env.vars.remove(ENV_CREDENTIALS_URI);
        env.set(ENV_ECS_METADATA_DISABLED, "true");
        let looked = looked_in(chain(&env).unwrap_err());
        let want = [
            "environment (ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET not set)",
            "OIDC role (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE not set)",
            "~/.aliyun/config.json (skipped: ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true)",
            &format!("credentials file {} (not found)", ini.display()),
            "ECS RAM role (skipped: ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)",
            "credentials URI (ALIBABA_CLOUD_CREDENTIALS_URI not set)",
        ];
        assert_eq!(looked, want);

        env.vars.remove(ENV_CLI_PROFILE_DISABLED);
        env.set(ENV_PROFILE, "nosuch");
        let looked = looked_in(chain(&env).unwrap_err());
        assert_eq!(
            looked[2],
            format!(
                "{} (no profile \"nosuch\")",
                home.join(".aliyun/config.json").display()
            )
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn profiles_are_read_at_build_and_broken_ones_fail_it() {
        let home = temp_home("build");
        std::fs::write(
            home.join(".alibabacloud/credentials.ini"),
            "[default]\naccess_key_id = D\naccess_key_secret = s\n[edge]\naccess_key_id = E\naccess_key_secret = s\n[broken]\ntype = sts\naccess_key_id = B\naccess_key_secret = SECRET-B\n",
        )
        .unwrap();
        let mut env = FakeEnv::new(NO_NETWORK, Some(home.clone()));
        env.set(ENV_PROFILE, "edge");
        let c = chain(&env).unwrap();
        assert_eq!(c.fixed_credentials().unwrap().access_key_id(), "E");
        let c = DefaultCredentialsChain::builder()
            .profile("default")
            .build_with(&env)
            .unwrap();
        assert_eq!(
            c.fixed_credentials().unwrap().access_key_id(),
            "D",
            "the builder's profile beats ALIBABA_CLOUD_PROFILE"
        );
        env.set(ENV_PROFILE, "broken");
        let e = chain(&env).unwrap_err().to_string();
        assert!(e.contains("[broken]: security_token is missing"), "{e}");
        assert!(!e.contains("SECRET-"), "{e}");

        let mut env = FakeEnv::new(NO_NETWORK, Some(home.clone()));
        env.set(ENV_ACCESS_KEY_ID, "only-the-id");
        let e = chain(&env).unwrap_err().to_string();
        assert!(e.contains(ENV_ACCESS_KEY_SECRET), "{e}");

        let env = FakeEnv::new(&[(ENV_CREDENTIALS_FILE, "/nonexistent/creds.ini")], None);
        let e = chain(&env).unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/creds.ini") && e.contains(ENV_CREDENTIALS_FILE),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn network_steps_are_asked_in_order_and_the_first_that_works_is_kept() {
        let (ecs, ecs_seen) = answering_server(404, "{}".into());
        let body = r#"{"Code":"Success","AccessKeyId":"URI-ID","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2099-01-01T00:00:00Z"}"#;
        let (uri, uri_seen) = answering_server(200, body.into());
        let env = FakeEnv::new(&[(ENV_CREDENTIALS_URI, &format!("{uri}/creds"))], None);
        let c = DefaultCredentialsChain::builder()
            .ecs_metadata_endpoint(ecs.clone())
            .build_with(&env)
            .unwrap();
        assert!(c.fixed_credentials().is_none());
        assert!(requests(&ecs_seen).is_empty(), "nothing asked at build");

        let got = with_context(|ctx| c.fetch(ctx)).unwrap();
        assert_eq!(got.access_key_id(), "URI-ID");
        let asked = requests(&ecs_seen);
        assert_eq!(asked[0], "PUT /latest/api/token HTTP/1.1", "{asked:?}");
        assert_eq!(requests(&uri_seen), ["GET /creds HTTP/1.1"]);
        assert_eq!(c.describe(), format!("credentials URI {uri}/creds"));

        // Refreshes go to the step that worked, not down the chain again.
        with_context(|ctx| c.fetch(ctx)).unwrap();
        assert!(requests(&ecs_seen).is_empty());
        assert_eq!(requests(&uri_seen).len(), 1);
    }

    #[test]
    fn a_working_ecs_role_beats_the_credentials_uri() {
        let (ecs, ecs_seen) = routing_server(|line| {
            match line.split(' ').nth(1) {
            Some("/latest/api/token") => (200, "imds-token".into()),
            Some("/latest/meta-data/ram/security-credentials/") => (200, "edge\n".into()),
            Some("/latest/meta-data/ram/security-credentials/edge") => (
                200,
                r#"{"Code":"Success","AccessKeyId":"ECS-ID","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2099-01-01T00:00:00Z"}"#.into(),
            ),
            _ => (404, "{}".into()),
        }
        });
        let (uri, uri_seen) = answering_server(500, "{}".into());
        let env = FakeEnv::new(&[(ENV_CREDENTIALS_URI, &format!("{uri}/creds"))], None);
        let c = DefaultCredentialsChain::builder()
            .ecs_metadata_endpoint(ecs)
            .build_with(&env)
            .unwrap();
        let got = with_context(|ctx| c.fetch(ctx)).unwrap();
        assert_eq!(got.access_key_id(), "ECS-ID");
        assert_eq!(
            requests(&ecs_seen).len(),
            3,
            "token, role name, credentials"
        );
        assert!(requests(&uri_seen).is_empty(), "the URI is not asked");
        assert_eq!(c.describe(), "ECS RAM role");
    }

    #[test]
    fn when_every_network_step_fails_the_error_names_each() {
        let (ecs, _ecs_seen) = answering_server(404, "{}".into());
        let (uri, _uri_seen) = answering_server(503, "busy".into());
        let env = FakeEnv::new(
            &[(ENV_CREDENTIALS_URI, &format!("{uri}/creds?token=SECRET-Q"))],
            None,
        );
        let c = DefaultCredentialsChain::builder()
            .ecs_metadata_endpoint(ecs.clone())
            .build_with(&env)
            .unwrap();
        let looked = looked_in(with_context(|ctx| c.fetch(ctx)).unwrap_err());
        assert_eq!(looked.len(), 6, "{looked:?}");
        assert!(
            looked[4].starts_with(&format!("ECS RAM role at {ecs} (failed: ")),
            "{looked:?}"
        );
        assert!(
            looked[5].starts_with(&format!("credentials URI {uri}/creds (failed: ")),
            "{looked:?}"
        );
        assert!(!looked.join(" ").contains("SECRET-Q"), "{looked:?}");
    }

    #[test]
    fn the_builders_sts_endpoint_reaches_the_roles_the_chain_assumes() {
        let (sts, seen) = answering_server(400, r#"{"Code":"NoPermission","Message":"m"}"#.into());
        let home = temp_home("sts");
        let token = home.join("token");
        std::fs::write(&token, "SECRET-OIDC-TOKEN").unwrap();
        std::fs::write(
            home.join(".alibabacloud/credentials.ini"),
            "[default]\ntype = ram_role_arn\naccess_key_id = SRC\naccess_key_secret = SECRET-S\nrole_arn = acs:ram::1:role/up\n",
        )
        .unwrap();
        let mut env = FakeEnv::new(
            &[(ENV_STS_ENDPOINT, "http://127.0.0.1:1/not-this-one")],
            Some(home.clone()),
        );
        let role = DefaultCredentialsChain::builder()
            .sts_endpoint(format!("{sts}/sts"))
            .build_with(&env)
            .unwrap();
        let e = with_context(|ctx| role.fetch(ctx)).unwrap_err().to_string();
        assert!(e.contains("NoPermission"), "{e}");
        assert!(!e.contains("SECRET-"), "{e}");
        let asked = requests(&seen);
        assert!(
            asked[0].starts_with("POST /sts/?") && asked[0].contains("Action=AssumeRole&"),
            "{asked:?}"
        );

        env.set(ENV_ROLE_ARN, "acs:ram::1:role/oidc");
        env.set(ENV_OIDC_PROVIDER_ARN, "acs:ram::1:oidc-provider/p");
        env.set(ENV_OIDC_TOKEN_FILE, token.to_str().unwrap());
        env.set(ENV_ROLE_SESSION_NAME, "pod-1");
        let oidc = DefaultCredentialsChain::builder()
            .sts_endpoint(format!("{sts}/sts"))
            .build_with(&env)
            .unwrap();
        let e = with_context(|ctx| oidc.fetch(ctx)).unwrap_err().to_string();
        assert!(!e.contains("SECRET-"), "{e}");
        let asked = requests(&seen);
        assert!(
            asked[0].starts_with("POST /sts/?") && asked[0].contains("Action=AssumeRoleWithOIDC"),
            "{asked:?}"
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn the_static_chain_reads_offline_only_and_says_so() {
        let looked = looked_in(resolve_static(&FakeEnv::default(), None).unwrap_err());
        assert_eq!(looked.len(), 5, "{looked:?}");
        assert!(looked[4].contains("not asked"), "{looked:?}");
        let env = FakeEnv::new(
            &[
                (ENV_ROLE_ARN, "acs:ram::1:role/oidc"),
                (ENV_OIDC_PROVIDER_ARN, "p"),
                (ENV_OIDC_TOKEN_FILE, "/t"),
            ],
            None,
        );
        let e = resolve_static(&env, None).unwrap_err().to_string();
        assert!(
            e.contains("AssumeRoleWithOIDC") && e.contains("DefaultCredentialsChain"),
            "{e}"
        );
    }
}
