//! The ECS RAM role: credentials from the instance metadata server
//! (`100.100.100.200`), IMDSv2 first (a session token from
//! `PUT /latest/api/token`), IMDSv1 as the fallback unless disabled.

use std::time::Duration;

use ureq::http::{HeaderName, HeaderValue};

use crate::error::{Error, Result};

use super::service::{self, IssuedCredentials, ServiceCall};
use super::{Credentials, CredentialsProvider, Env, FetchContext, ProcessEnv};

/// The metadata server.
pub const DEFAULT_ECS_METADATA_ENDPOINT: &str = "http://100.100.100.200";
/// Ours, for tests and gateways: the metadata server's URL.
pub const ENV_ECS_METADATA_ENDPOINT: &str = "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT";
/// The role name (else discovered from the metadata server).
pub const ENV_ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
/// `true`: the default chain does not ask the metadata server.
pub const ENV_ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
/// `true`: IMDSv2 only (no fallback to IMDSv1).
pub const ENV_IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";

const ROLE_PATH: &str = "/latest/meta-data/ram/security-credentials/";
/// Short: a machine that is not on ECS or ENS must not wait long.
const METADATA_TIMEOUT: Duration = Duration::from_secs(1);
/// The IMDSv2 session token's lifetime asked for (the most allowed).
const TOKEN_TTL_SECS: &str = "21600";

/// Credentials of the RAM role attached to this ECS (or ENS) instance.
///
/// ```
/// use ens_upload::EcsRamRoleProvider;
/// let p = EcsRamRoleProvider::new().role_name("uploader");
/// let client = ens_upload::Client::builder().credentials_provider(p).build()?;
/// # Ok::<(), ens_upload::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct EcsRamRoleProvider {
    role_name: Option<String>,
    endpoint: Option<String>,
    imdsv1_disabled: Option<bool>,
}

impl EcsRamRoleProvider {
    /// The role from [`ENV_ECS_METADATA`] or, when unset, the one the
    /// metadata server names; the server at [`ENV_ECS_METADATA_ENDPOINT`]
    /// or `http://100.100.100.200`; IMDSv1 allowed unless
    /// [`ENV_IMDSV1_DISABLED`] is `true`.
    pub fn new() -> EcsRamRoleProvider {
        EcsRamRoleProvider::default()
    }

    /// The role's name (skips discovery).
    pub fn role_name(mut self, name: impl Into<String>) -> Self {
        self.role_name = Some(name.into());
        self
    }

    /// The metadata server's URL (for tests, gateways).
    pub fn metadata_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Refuses IMDSv1: an IMDSv2 token is then required.
    pub fn disable_imdsv1(mut self, disabled: bool) -> Self {
        self.imdsv1_disabled = Some(disabled);
        self
    }

    fn endpoint(&self, env: &dyn Env) -> Result<String> {
        Ok(match &self.endpoint {
            Some(url) => url.clone(),
            None => env
                .var(ENV_ECS_METADATA_ENDPOINT)?
                .unwrap_or_else(|| DEFAULT_ECS_METADATA_ENDPOINT.to_owned()),
        }
        .trim_end_matches('/')
        .to_owned())
    }

    fn get(
        &self,
        ctx: &FetchContext<'_>,
        url: &str,
        token: Option<&HeaderValue>,
        what: &str,
    ) -> Result<String> {
        let headers = token
            .map(|t| {
                vec![(
                    HeaderName::from_static("x-aliyun-ecs-metadata-token"),
                    t.clone(),
                )]
            })
            .unwrap_or_default();
        let answer = service::send(
            ctx,
            ServiceCall {
                op: what,
                method: "GET",
                url,
                headers,
                form: &[],
                timeout: METADATA_TIMEOUT,
                use_proxy: false,
                learns_clock: true,
            },
        )?;
        if !answer.is_success() {
            return Err(Error::credentials(format!(
                "the ECS metadata server answered HTTP {} to {what}{}",
                answer.status,
                if answer.status == 404 {
                    " (no such role: check the role name and that a RAM role is attached to the instance)"
                } else if answer.status == 401 || answer.status == 403 {
                    " (an IMDSv2 token is required)"
                } else {
                    ""
                }
            )));
        }
        String::from_utf8(answer.body).map_err(|_| {
            Error::credentials(format!("the ECS metadata server's {what} is not text"))
        })
    }

    /// An IMDSv2 session token; `None` when the server gives none and
    /// IMDSv1 is allowed.
    fn session_token(
        &self,
        ctx: &FetchContext<'_>,
        endpoint: &str,
        v1_allowed: bool,
    ) -> Result<Option<HeaderValue>> {
        let url = format!("{endpoint}/latest/api/token");
        let got = service::send(
            ctx,
            ServiceCall {
                op: "ECS metadata token",
                method: "PUT",
                url: &url,
                headers: vec![(
                    HeaderName::from_static("x-aliyun-ecs-metadata-token-ttl-seconds"),
                    HeaderValue::from_static(TOKEN_TTL_SECS),
                )],
                form: &[],
                timeout: METADATA_TIMEOUT,
                use_proxy: false,
                learns_clock: false,
            },
        );
        let failure = match got {
            Ok(a) if a.is_success() => {
                let token = std::str::from_utf8(&a.body).unwrap_or_default().trim();
                match HeaderValue::from_str(token) {
                    Ok(v) if !token.is_empty() => return Ok(Some(v)),
                    _ => "an unusable token".to_owned(),
                }
            }
            Ok(a) => format!("HTTP {}", a.status),
            Err(e) => e.to_string(),
        };
        if v1_allowed {
            log::debug!("no IMDSv2 token from the ECS metadata server ({failure}); trying IMDSv1");
            Ok(None)
        } else {
            Err(Error::credentials(format!(
                "the ECS metadata server gave no IMDSv2 token ({failure}) and IMDSv1 is disabled \
                 ({ENV_IMDSV1_DISABLED})"
            )))
        }
    }
}

impl CredentialsProvider for EcsRamRoleProvider {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        let env = ProcessEnv;
        let endpoint = self.endpoint(&env)?;
        let v1_allowed = match self.imdsv1_disabled {
            Some(disabled) => !disabled,
            None => !env
                .var(ENV_IMDSV1_DISABLED)?
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        };
        let token = self.session_token(ctx, &endpoint, v1_allowed)?;
        let role =
            match self.role_name.clone().or(env.var(ENV_ECS_METADATA)?) {
                Some(r) => r,
                None => {
                    let url = format!("{endpoint}{ROLE_PATH}");
                    let listed = self.get(ctx, &url, token.as_ref(), "the role name")?;
                    match listed.lines().map(str::trim).find(|l| !l.is_empty()) {
                        Some(r) => r.to_owned(),
                        None => return Err(Error::credentials(
                            "the ECS metadata server lists no RAM role: attach one to the instance",
                        )),
                    }
                }
            };
        if role.is_empty() || role.contains(['/', '?', '#']) || role.chars().any(char::is_control) {
            return Err(Error::credentials(format!(
                "{role:?} is not a RAM role name"
            )));
        }
        let url = format!("{endpoint}{ROLE_PATH}{role}");
        let body = self.get(ctx, &url, token.as_ref(), "the role's credentials")?;
        let place = format!("ECS RAM role {role}");
        let issued: IssuedCredentials = serde_json::from_str(&body).map_err(|_| {
            Error::credentials(format!(
                "{place}: the metadata server's answer is not the expected JSON"
            ))
        })?;
        if let Some(code) = issued.code.as_deref().filter(|c| *c != "Success") {
            return Err(Error::credentials(format!(
                "{place}: the metadata server answered Code {code:?}"
            )));
        }
        issued.into_credentials(&place)
    }

    fn describe(&self) -> String {
        match &self.role_name {
            Some(r) => format!("ECS RAM role {r}"),
            None => "ECS RAM role".to_owned(),
        }
    }
}
