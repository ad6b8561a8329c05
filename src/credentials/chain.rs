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
