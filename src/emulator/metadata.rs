//! The ECS instance metadata paths a RAM role's credentials come from
//! (`100.100.100.200` on ECS and ENS), and a credentials URI, on the
//! emulator's port:
//!
//! - `PUT /latest/api/token` with `X-aliyun-ecs-metadata-token-ttl-seconds`
//!   (1 to 21600): an IMDSv2 token;
//! - `GET /latest/meta-data/ram/security-credentials/`: the role's name;
//! - `GET /latest/meta-data/ram/security-credentials/<role>`: a fresh
//!   credential, `Code` `Success`;
//! - `GET /credentials-uri`: a fresh credential, `Code` `Success`.
//!
//! A GET may carry `X-aliyun-ecs-metadata-token` (IMDSv2): an unknown or
//! expired one is answered 401, and with
//! [`EmulatorBuilder::ecs_require_imdsv2`](super::EmulatorBuilder::ecs_require_imdsv2)
//! so is a GET without one. ECS does not document the status of those
//! refusals; 401 is what EC2's IMDSv2 answers. Object keys starting
//! `latest/` or equal to `credentials-uri` cannot be reached on the OSS
//! side (they are these paths).

use super::fault::CredentialsService;
use super::http::{HttpRequest, HttpResponse};
use super::issued::{IssuedBy, CREDENTIALS_URI_PATH};
use super::record::RecordedRequest;
use super::{lock, Fault, Shared};

const ECS_PREFIX: &str = "/latest/";
const TOKEN_PATH: &str = "/latest/api/token";
const ROLES_PATH: &str = "/latest/meta-data/ram/security-credentials/";
const TTL_HEADER: &str = "x-aliyun-ecs-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aliyun-ecs-metadata-token";
/// The longest IMDSv2 token life ECS grants (six hours).
const MAX_TOKEN_TTL: i64 = 21_600;

/// Which credentials service a request is for, by its path: ECS metadata
/// or the credentials URI (STS shares `/` with ENS: see
/// [`super::sts::is_sts_request`]).
pub(super) fn service_of(req: &HttpRequest) -> Option<CredentialsService> {
    let path = req.target.split('?').next().unwrap_or("");
    if path == CREDENTIALS_URI_PATH {
        Some(CredentialsService::CredentialsUri)
    } else if path.starts_with(ECS_PREFIX) {
        Some(CredentialsService::EcsMetadata)
    } else {
        None
    }
}

/// Answers an ECS metadata or credentials URI request, or plays `fault`.
pub(super) fn handle(
    service: CredentialsService,
    req: &HttpRequest,
    connection_id: u64,
    shared: &Shared,
    fault: Option<&Fault>,
) -> HttpResponse {
    let path = req.target.split('?').next().unwrap_or("");
    let outcome = match fault.and_then(fault_answer) {
        Some(played) => Err(played),
        None if service == CredentialsService::CredentialsUri => credentials_uri(req, shared),
        None => ecs(req, path, shared),
    };
    let (status, content_type, body) = match outcome {
        Ok(_) if fault == Some(&Fault::NonJson) => {
            (200, "text/plain", "OK, but this is not JSON".to_owned())
        }
        Ok((content_type, body)) => (200, content_type, body),
        Err((status, body)) => (status, "text/plain", body),
    };
    lock(&shared.requests).push(RecordedRequest {
        method: req.method.clone(),
        path: path.to_owned(),
        raw_query: req.target.split_once('?').map_or("", |(_, q)| q).to_owned(),
        params: Vec::new(),
        headers: req.headers.clone(),
        body_len: req.body.len(),
        connection_id,
        status,
        code: (status != 200).then(|| status.to_string()),
        fault: fault.cloned(),
    });
    let mut headers = vec![
        ("Content-Type", content_type.to_owned()),
        ("Date", crate::clock::format_http_date(shared.now())),
    ];
    if let Some(Fault::Throttling { retry_after_ms }) = fault {
        headers.push(("Retry-After", retry_after_ms.div_ceil(1000).to_string()));
    }
    HttpResponse {
        status,
        headers,
        body: body.into_bytes(),
    }
}

/// What a fault answers in place of the service (the rest, such as
/// `Slow` or `ConnectionReset`, are played by the connection).
fn fault_answer(fault: &Fault) -> Option<(u16, String)> {
    let (status, body) = match fault {
        Fault::InternalError => (500, "Internal Server Error"),
        Fault::ServiceUnavailable => (503, "Service Unavailable"),
        Fault::Throttling { .. } => (429, "Too Many Requests"),
        Fault::BadGatewayHtml => (
            502,
            "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        _ => return None,
    };
    Some((status, body.to_owned()))
}

type Outcome = Result<(&'static str, String), (u16, String)>;

fn credentials_uri(req: &HttpRequest, shared: &Shared) -> Outcome {
    if req.method != "GET" {
        return Err((405, "The credentials URI answers GET only.".to_owned()));
    }
    let issued = shared.issue(IssuedBy::CredentialsUri, None);
    let mut fields = issued.fields();
    fields.insert("Code".into(), "Success".into());
    Ok((
        "application/json",
        serde_json::Value::Object(fields).to_string(),
    ))
}

fn ecs(req: &HttpRequest, path: &str, shared: &Shared) -> Outcome {
    let now = shared.now();
    if path == TOKEN_PATH {
        if req.method != "PUT" {
            return Err((405, "The metadata token is obtained with PUT.".to_owned()));
        }
        let ttl = req.header(TTL_HEADER).and_then(|v| v.parse::<i64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=MAX_TOKEN_TTL).contains(t)) else {
            return Err((
                400,
                format!("{TTL_HEADER} must be a number of seconds from 1 to {MAX_TOKEN_TTL}."),
            ));
        };
        return Ok(("text/plain", shared.issued.new_metadata_token(now, ttl)));
    }
    if req.method != "GET" {
        return Err((405, "Metadata is read with GET.".to_owned()));
    }
    let config = &shared.config.issuing;
    match req.header(TOKEN_HEADER) {
        Some(token) if !shared.issued.metadata_token_valid(token, now) => {
            return Err((401, "The metadata token is invalid or expired.".to_owned()))
        }
        None if config.ecs_require_imdsv2 => {
            return Err((
                401,
                "This instance only serves metadata in security hardening mode: PUT /latest/api/token first, then send X-aliyun-ecs-metadata-token.".to_owned(),
            ))
        }
        _ => {}
    }
    match path.strip_prefix(ROLES_PATH) {
        Some("") => Ok(("text/plain", config.ecs_role_name.clone())),
        Some(role) if role.trim_end_matches('/') == config.ecs_role_name => {
            let issued = shared.issue(IssuedBy::EcsMetadata, None);
            let mut fields = issued.fields();
            fields.insert("Code".into(), "Success".into());
            fields.insert(
                "LastUpdated".into(),
                crate::clock::format_iso8601(issued.issued_at).into(),
            );
            Ok(("text/plain", serde_json::Value::Object(fields).to_string()))
        }
        _ => Err((404, "Not Found".to_owned())),
    }
}
