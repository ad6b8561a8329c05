//! STS on the emulator's port (API version 2015-04-01): `AssumeRole`,
//! signed with RPC 1.0 (or V3) by any key the emulator knows, an STS
//! credential it issued included (chained roles), checked by `rpc.rs` as
//! ENS calls are; and `AssumeRoleWithOIDC`, which is not signed. Both
//! validate their parameters as STS does and answer STS's JSON with a fresh
//! credential (`issued.rs`).

use super::builder::Key;
use super::http::HttpRequest;
use super::issued::{Issued, IssuedBy};
use super::rpc::{fail, param, request_params, ApiFailure};
use super::{KeyState, Shared};

/// STS's API version.
pub(super) const API_VERSION: &str = "2015-04-01";
/// The `HostId` of STS's error answers.
pub(super) const HOST_ID: &str = "sts.aliyuncs.com";
/// The one STS action that is not signed.
pub(super) const UNSIGNED_ACTION: &str = "AssumeRoleWithOIDC";

pub(super) fn is_sts_action(action: &str) -> bool {
    matches!(action, "AssumeRole" | "AssumeRoleWithOIDC")
}

/// Whether an RPC call names an STS action (in its parameters or, with
/// signature V3, in `x-acs-action`).
pub(super) fn is_sts_call(req: &HttpRequest, params: &[(String, String)]) -> bool {
    req.header("x-acs-action").is_some_and(is_sts_action)
        || param(params, "Action").is_some_and(is_sts_action)
}

/// [`is_sts_call`] before the parameters are parsed (to pick the fault
/// queue).
pub(super) fn is_sts_request(req: &HttpRequest) -> bool {
    let path = req.target.split('?').next().unwrap_or("");
    path == "/" && is_sts_call(req, &request_params(req).unwrap_or_default())
}

/// `AssumeRole`, its signature already verified: `caller` signed it.
pub(super) fn assume_role(
    caller: &Key,
    params: &[(String, String)],
    shared: &Shared,
    request_id: &str,
) -> Result<serde_json::Value, ApiFailure> {
    if caller.state != KeyState::Active {
        return Err(fail(
            403,
            "NoPermission",
            "You are not authorized to do this action. You should be authorized by RAM.",
        ));
    }
    let role = role_arn(params)?;
    let session = session_name(params, true)?.unwrap_or_default();
    let duration = duration_seconds(params)?;
    if let Some(policy) = param(params, "Policy") {
        let is_object =
            serde_json::from_str::<serde_json::Value>(policy).is_ok_and(|p| p.is_object());
        if !is_object {
            return Err(fail(
                400,
                "InvalidParameter.PolicyGrammar",
                "The parameter Policy has not passed grammar check.",
            ));
        }
    }
    if param(params, "ExternalId").is_some_and(|e| !(2..=1224).contains(&e.len())) {
        return Err(fail(
            400,
            "InvalidParameter.ExternalId",
            "The parameter ExternalId is wrongly formed.",
        ));
    }
    let issued = shared.issue(IssuedBy::AssumeRole, Some(duration));
    Ok(answer(request_id, &role, session, &issued, None))
}

/// `AssumeRoleWithOIDC`: not signed; the OIDC token must be there (and be
/// the configured one, when there is one).
pub(super) fn assume_role_with_oidc(
    params: &[(String, String)],
    shared: &Shared,
    request_id: &str,
) -> Result<serde_json::Value, ApiFailure> {
    let version = param(params, "Version").unwrap_or("");
    if version != API_VERSION {
        return Err(fail(
            400,
            "InvalidVersion",
            format!("Specified parameter Version {version} is not valid."),
        ));
    }
    let token = param(params, "OIDCToken");
    if let Some(token) = token {
        shared.issued.remember_oidc_token(token);
    }
    let role = role_arn(params)?;
    let provider = required(params, "OIDCProviderArn")?;
    if arn_name(provider, "oidc-provider/").is_none() {
        return Err(fail(
            400,
            "InvalidParameter.OIDCProviderArn",
            "The parameter OIDCProviderArn is wrongly formed.",
        ));
    }
    let token = token.map(str::trim).unwrap_or("");
    if token.is_empty() {
        return Err(fail(
            401,
            "AuthenticationFail.OIDCToken.Invalid",
            "The OIDCToken can not empty.",
        ));
    }
    let expected = shared.config.issuing.oidc_token.as_deref().map(str::trim);
    if expected.is_some_and(|want| want != token) {
        return Err(fail(
            401,
            "AuthenticationFail.OIDCToken.InvalidSignature",
            "OIDC token validate failed: invalid signature.",
        ));
    }
    let session = session_name(params, false)?.unwrap_or("emulator-oidc-session");
    let duration = duration_seconds(params)?;
    let issued = shared.issue(IssuedBy::AssumeRoleWithOidc, Some(duration));
    let info = serde_json::json!({
        "Subject": "system:serviceaccount:emulator:test",
        "Issuer": "https://oidc.emulator.invalid",
        "ClientIds": "sts.aliyuncs.com",
    });
    Ok(answer(request_id, &role, session, &issued, Some(info)))
}

/// An ARN's account and role name.
struct Role<'a> {
    account: &'a str,
    name: &'a str,
}

/// `RoleArn`: `acs:ram::<account digits>:role/<name>`.
fn role_arn(params: &[(String, String)]) -> Result<Role<'_>, ApiFailure> {
    let arn = required(params, "RoleArn")?;
    arn_name(arn, "role/")
        .map(|(account, name)| Role { account, name })
        .ok_or_else(|| {
            fail(
                400,
                "InvalidParameter.RoleArn",
                "The parameter RoleArn is wrongly formed.",
            )
        })
}

/// `acs:ram::<digits>:<kind><name>` → the digits and the name.
fn arn_name<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let (account, resource) = arn.strip_prefix("acs:ram::")?.split_once(':')?;
    let name = resource.strip_prefix(kind)?;
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    let account_ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    (name_ok && account_ok).then_some((account, name))
}

/// `RoleSessionName`: 2-64 of `[A-Za-z0-9.@_-]`.
fn session_name(params: &[(String, String)], mandatory: bool) -> Result<Option<&str>, ApiFailure> {
    let name = if mandatory {
        Some(required(params, "RoleSessionName")?)
    } else {
        param(params, "RoleSessionName")
    };
    let valid = |n: &str| {
        (2..=64).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".@_-".contains(&b))
    };
    match name {
        Some(n) if !valid(n) => Err(fail(
            400,
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed.",
        )),
        other => Ok(other),
    }
}

/// `DurationSeconds`: 900 to 43200 (a role's largest maximum), 3600 when
/// absent.
fn duration_seconds(params: &[(String, String)]) -> Result<u64, ApiFailure> {
    let Some(raw) = param(params, "DurationSeconds") else {
        return Ok(3600);
    };
    match raw.parse::<u64>() {
        Ok(secs) if (900..=43200).contains(&secs) => Ok(secs),
        _ => Err(fail(
            400,
            "InvalidParameter.DurationSeconds",
            "The Min/Max value of DurationSeconds is 15min/12hr.",
        )),
    }
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, ApiFailure> {
    param(params, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            fail(
                400,
                format!("Missing{name}"),
                format!("{name} is mandatory for this action."),
            )
        })
}

/// STS's success answer.
fn answer(
    request_id: &str,
    role: &Role<'_>,
    session: &str,
    issued: &Issued,
    oidc_token_info: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut out = serde_json::json!({
        "RequestId": request_id,
        "AssumedRoleUser": {
            "Arn": format!("acs:ram::{}:role/{}/{session}", role.account, role.name.to_ascii_lowercase()),
            "AssumedRoleId": format!("3{:017}:{session}", issued.serial),
        },
        "Credentials": serde_json::Value::Object(issued.fields()),
    });
    if let (Some(info), Some(map)) = (oidc_token_info, out.as_object_mut()) {
        map.insert("OIDCTokenInfo".into(), info);
    }
    out
}
