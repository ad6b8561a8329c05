//! Failures the emulator plays on request, instead of its normal answer.

use std::time::Duration;

/// answer (see [`Emulator::inject`](super::Emulator::inject)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 500 `InternalError`.
    InternalError,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// HTTP 400 `Throttling.User` with `x-acs-retry-after` (milliseconds)
    /// and `Retry-After` (whole seconds, rounded up).
    Throttling {
        /// The wait asked for, in milliseconds.
        retry_after_ms: u64,
    },
    /// The connection is closed after the request is read, with no answer.
    ConnectionReset,
    /// The answer comes only after this long (past a client's read timeout).
    Slow(Duration),
    /// HTTP 200 with a body that is not JSON.
    NonJson,
    /// A success answer whose `Content-Length` is larger than what is sent
    /// before the connection closes.
    TruncatedBody,
    /// HTTP 502 with an HTML page, as a gateway in front would send.
    BadGatewayHtml,
    /// HTTP 200 with a body of this many bytes.
    HugeBody(usize),
    /// OSS: the next PutObject, UploadPart or CompleteMultipartUpload is
    /// answered 500 `InternalError` (its body is read, nothing is stored).
    OssInternalError,
    /// OSS: the connection of the next PutObject, UploadPart or
    /// CompleteMultipartUpload is closed after this many body bytes.
    OssResetAfterBytes(u64),
    /// OSS: the next PutObject, UploadPart or CompleteMultipartUpload is
    /// stored, but answered with a wrong `x-oss-hash-crc64ecma`.
    OssBadCrc,
    /// OSS: the next PutObject, UploadPart or CompleteMultipartUpload is
    /// answered only after this long.
    OssSlow(Duration),
    /// OSS: the next PutObject, UploadPart or CompleteMultipartUpload is
    /// answered `200 OK` with an `<Error>` body (`InternalError`), as OSS
    /// and S3 answer a failure that came after the status line was sent.
    OssErrorIn200,
    /// Credentials services: the next call to any of them (STS, the ECS
    /// metadata paths, the credentials URI) plays the inner fault
    /// (`InternalError`, `Slow`, `NonJson`, `ConnectionReset`...; an inner
    /// `Oss*` or credentials fault is ignored). Their own queue, apart from
    /// ENS's.
    CredentialsService(Box<Fault>),
    /// Like [`Fault::CredentialsService`], for the next STS call only.
    Sts(Box<Fault>),
    /// Like [`Fault::CredentialsService`], for the next ECS metadata call
    /// only (a token PUT or a GET).
    EcsMetadata(Box<Fault>),
    /// Like [`Fault::CredentialsService`], for the next credentials URI
    /// call only.
    CredentialsUri(Box<Fault>),
}

/// A credentials service, as far as faults are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CredentialsService {
    Sts,
    EcsMetadata,
    CredentialsUri,
}

impl Fault {
    /// Whether the fault is played on the OSS side (the `Oss*` ones) rather
    /// than on the RPC API; each side has its own queue.
    pub fn is_oss(&self) -> bool {
        matches!(
            self,
            Fault::OssInternalError
                | Fault::OssErrorIn200
                | Fault::OssResetAfterBytes(_)
                | Fault::OssBadCrc
                | Fault::OssSlow(_)
        )
    }
}

impl Fault {
    /// The fault a credentials-service fault plays on `service`, if it is
    /// one for it.
    pub(super) fn for_service(&self, service: CredentialsService) -> Option<&Fault> {
        match (self, service) {
            (Fault::CredentialsService(inner), _)
            | (Fault::Sts(inner), CredentialsService::Sts)
            | (Fault::EcsMetadata(inner), CredentialsService::EcsMetadata)
            | (Fault::CredentialsUri(inner), CredentialsService::CredentialsUri) => Some(inner),
            _ => None,
        }
    }

    /// Whether the fault waits in the credentials services' queue.
    pub(super) fn is_credentials(&self) -> bool {
        matches!(
            self,
            Fault::CredentialsService(_)
                | Fault::Sts(_)
                | Fault::EcsMetadata(_)
                | Fault::CredentialsUri(_)
        )
    }
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `internal-error`, `unavailable`, `throttling[=MS]`, `reset`,
    /// `slow[=MS]`, `non-json`, `truncated`, `bad-gateway`, `huge[=BYTES]`,
    /// `oss-internal-error`, `oss-error-in-200`, `oss-reset=BYTES`, `oss-bad-crc`, `oss-slow[=MS]`;
    /// for the credentials services one of those after `credentials:`
    /// (any), `sts:`, `ecs:` or `uri:`, e.g. `sts:internal-error`.
    fn from_str(s: &str) -> Result<Fault, String> {
        type Wrap = fn(Box<Fault>) -> Fault;
        let scoped: [(&str, Wrap); 4] = [
            ("credentials:", Fault::CredentialsService),
            ("sts:", Fault::Sts),
            ("ecs:", Fault::EcsMetadata),
            ("uri:", Fault::CredentialsUri),
        ];
        for (prefix, wrap) in scoped {
            if let Some(inner) = s.strip_prefix(prefix) {
                return Ok(wrap(Box::new(inner.parse()?)));
            }
        }
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let number = |default: u64| -> Result<u64, String> {
            arg.map_or(Ok(default), |a| {
                a.parse()
                    .map_err(|_| format!("{name}: {a:?} is not a number"))
            })
        };
        Ok(match name {
            "internal-error" => Fault::InternalError,
            "unavailable" => Fault::ServiceUnavailable,
            "throttling" => Fault::Throttling {
                retry_after_ms: number(100)?,
            },
            "reset" => Fault::ConnectionReset,
            "slow" => Fault::Slow(Duration::from_millis(number(15_000)?)),
            "non-json" => Fault::NonJson,
            "truncated" => Fault::TruncatedBody,
            "bad-gateway" => Fault::BadGatewayHtml,
            "huge" => Fault::HugeBody(number(50 << 20)? as usize),
            "oss-internal-error" => Fault::OssInternalError,
            "oss-error-in-200" => Fault::OssErrorIn200,
            "oss-reset" => Fault::OssResetAfterBytes(number(0)?),
            "oss-bad-crc" => Fault::OssBadCrc,
            "oss-slow" => Fault::OssSlow(Duration::from_millis(number(1000)?)),
            other => return Err(format!("unknown fault {other:?}")),
        })
    }
}
