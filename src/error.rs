//! The one error type of the crate, and the server's API error inside it.

use std::fmt;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a call, in kinds a caller can match on.
///
/// Variants and their fields may grow (both are `#[non_exhaustive]`): match
/// with `..`, e.g. `Error::Transport { kind, .. }`.
///
/// No variant ever holds an AccessKey secret or a security token: messages
/// are built from what is safe to log.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an API error (`Code`, `Message`, `RequestId`...).
    Api(Box<ApiError>),
    /// A request parameter was refused before anything was sent.
    #[non_exhaustive]
    InvalidInput {
        /// The parameter, e.g. `BucketName`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// The client configuration is unusable (endpoint URL, CA file, proxy...).
    #[non_exhaustive]
    Config {
        /// What is wrong, naming the setting.
        reason: String,
    },
    /// No usable credentials were found or given.
    #[non_exhaustive]
    Credentials {
        /// What is wrong, naming the source (the file, the environment,
        /// the provider).
        reason: String,
        /// The provider's own failure underneath, when a fetch failed
        /// (also given by [`source`](std::error::Error::source)).
        source: Option<std::sync::Arc<Error>>,
    },
    /// The default credential chain found nothing anywhere it looked.
    #[non_exhaustive]
    NoCredentials {
        /// Every place looked in, with what was found there.
        looked_in: Vec<String>,
    },
    /// The request did not get an HTTP response.
    #[non_exhaustive]
    Transport {
        /// What kind of failure it was.
        kind: TransportKind,
        /// Details from the network layer.
        message: String,
        /// How many attempts were made, this failed one included.
        attempts: u32,
        /// The I/O error underneath, when there is one (also given by
        /// [`source`](std::error::Error::source)).
        source: Option<std::sync::Arc<std::io::Error>>,
    },
    /// The server answered with a redirect, which is never followed: the
    /// signed URL must not be replayed to another host.
    #[non_exhaustive]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The `Location` header, if any.
        location: Option<String>,
        /// How many attempts were made, this one included.
        attempts: u32,
    },
    /// The server answered, but the body is not what the API returns
    /// (an HTML error page from a proxy, garbage, missing fields).
    #[non_exhaustive]
    Decode {
        /// HTTP status of the response.
        status: u16,
        /// Why it could not be decoded.
        reason: String,
        /// The body's first 256 bytes, as lossy UTF-8 (each invalid byte
        /// becomes U+FFFD, so the text may be longer than 256 bytes).
        body_prefix: String,
        /// How many attempts were made, this one included.
        attempts: u32,
    },
    /// The response body was larger than the client accepts.
    #[non_exhaustive]
    ResponseTooLarge {
        /// HTTP status of the response.
        status: u16,
        /// The limit in bytes.
        limit: u64,
        /// How many attempts were made, this one included.
        attempts: u32,
    },
    /// The upload's progress callback asked to stop. A checkpoint, if one was
    /// set, is kept: the same call later resumes from it.
    #[non_exhaustive]
    Cancelled {
        /// Bytes the server had stored when it stopped: the parts finished
        /// (those of a resumed call included), or the whole object. With a
        /// checkpoint, a resume does not send them again; without one, the
        /// multipart upload was aborted. Not what the callback last heard,
        /// which counts bytes sent.
        bytes_done: u64,
        /// The size of the whole upload.
        total: u64,
    },
    /// The CRC-64 the server computed over what it stored is not the one
    /// computed over what was sent: the data was corrupted on the way, and
    /// the object is not reported as uploaded.
    #[non_exhaustive]
    Integrity {
        /// What was checked, e.g. `part 3` or `object`.
        what: String,
        /// The CRC-64/ECMA-182 of the bytes sent.
        local_crc64: u64,
        /// The server's `x-oss-hash-crc64ecma`; `None` when it sent none.
        server_crc64: Option<u64>,
        /// The server's request id for the answer.
        request_id: String,
        /// How many attempts were made, this one included.
        attempts: u32,
    },
    /// A local file (the one uploaded, or its checkpoint) could not be read
    /// or written, or changed while it was being uploaded.
    #[non_exhaustive]
    LocalIo {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        reason: String,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
        /// The I/O error underneath, when there is one (also given by
        /// [`source`](std::error::Error::source)).
        source: Option<std::sync::Arc<std::io::Error>>,
    },
}

/// The kinds of [`Error::Transport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// A connect, read or overall timeout expired.
    Timeout,
    /// The host name could not be resolved.
    Dns,
    /// The TCP connection could not be made or was dropped.
    Connect,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The peer spoke something that is not valid HTTP/1.1.
    Protocol,
    /// Any other I/O failure.
    Io,
}

impl TransportKind {
    /// A short lowercase name (`"timeout"`, `"dns"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Timeout => "timeout",
            TransportKind::Dns => "dns",
            TransportKind::Connect => "connect",
            TransportKind::Tls => "tls",
            TransportKind::Protocol => "protocol",
            TransportKind::Io => "io",
        }
    }
}

/// An error answer from the ENS API, with everything the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status of the response.
    pub http_status: u16,
    /// The server's `Code`, e.g. `NoSuchBucket`.
    pub code: String,
    /// The server's `Message`.
    pub message: String,
    /// The server's `RequestId` (quote it to support).
    pub request_id: String,
    /// The server's `HostId`.
    pub host_id: String,
    /// The server's `Recommend` (a troubleshooting link), if any.
    pub recommend: String,
    /// OSS's `EC` (its detailed error code, e.g. `0002-00000080`), if any.
    pub ec: String,
    /// For `SignatureDoesNotMatch`: what comparing our string to sign with
    /// the server's tells.
    pub signature_diagnosis: Option<SignatureDiagnosis>,
    /// How many attempts were made, this one included.
    pub attempts: u32,
}

/// Why a `SignatureDoesNotMatch` happened, found by comparing the server's
/// string to sign (quoted in its message) with the one this client signed.
/// Security tokens in both strings are replaced by `<redacted>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureDiagnosis {
    /// Both sides signed the same string: the AccessKey secret is wrong.
    WrongSecret,
    /// The two sides canonicalized the request differently.
    CanonicalizationDiffers {
        /// The string this client signed.
        client: String,
        /// The string the server signed.
        server: String,
    },
    /// The server's message did not quote its string to sign.
    ServerStringUnknown,
}

/// Error codes from the PrepareUpload reference and the common RPC layer,
/// for matching without string compares. Anything else is [`KnownCode::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KnownCode {
    /// 404 `NoSuchBucket`.
    NoSuchBucket,
    /// 400 `InvalidBucketName`.
    InvalidBucketName,
    /// 400 `InvalidClientIp`.
    InvalidClientIp,
    /// 400 `InvalidaliUid`.
    InvalidAliUid,
    /// 400 `InvalidParameter` or `InvalidParameter.<field>`.
    InvalidParameter,
    /// 400 `NoPermission`.
    NoPermission,
    /// 403 `AccessDenied`.
    AccessDenied,
    /// 403 `UserDisable` (account disabled for arrears).
    UserDisable,
    /// 400 `SignatureDoesNotMatch`.
    SignatureDoesNotMatch,
    /// 400 `SignatureNonceUsed`.
    SignatureNonceUsed,
    /// 400 `InvalidTimeStamp.Expired` (or another `InvalidTimeStamp.*`).
    InvalidTimeStamp,
    /// 404 `InvalidAccessKeyId.NotFound` (or `InvalidAccessKeyId.*`).
    InvalidAccessKeyId,
    /// `InvalidSecurityToken.*`.
    InvalidSecurityToken,
    /// `Throttling` or `Throttling.*`.
    Throttling,
    /// `ServiceUnavailable`.
    ServiceUnavailable,
    /// `InternalError`.
    InternalError,
    /// Any other code.
    Other,
}

impl KnownCode {
    /// Classifies a server `Code`.
    pub fn from_code(code: &str) -> KnownCode {
        let family = code.split('.').next().unwrap_or(code);
        match (code, family) {
            ("NoSuchBucket", _) => KnownCode::NoSuchBucket,
            ("InvalidBucketName", _) => KnownCode::InvalidBucketName,
            ("InvalidClientIp", _) => KnownCode::InvalidClientIp,
            ("InvalidaliUid", _) => KnownCode::InvalidAliUid,
            ("NoPermission", _) => KnownCode::NoPermission,
            ("AccessDenied", _) => KnownCode::AccessDenied,
            ("UserDisable", _) => KnownCode::UserDisable,
            ("SignatureDoesNotMatch", _) => KnownCode::SignatureDoesNotMatch,
            ("SignatureNonceUsed", _) => KnownCode::SignatureNonceUsed,
            ("ServiceUnavailable", _) => KnownCode::ServiceUnavailable,
            ("InternalError", _) => KnownCode::InternalError,
            (_, "InvalidParameter") => KnownCode::InvalidParameter,
            (_, "InvalidTimeStamp") => KnownCode::InvalidTimeStamp,
            (_, "InvalidAccessKeyId") => KnownCode::InvalidAccessKeyId,
            (_, "InvalidSecurityToken") => KnownCode::InvalidSecurityToken,
            (_, "Throttling") => KnownCode::Throttling,
            _ => KnownCode::Other,
        }
    }
}

impl ApiError {
    /// The code classified into [`KnownCode`].
    pub fn known_code(&self) -> KnownCode {
        KnownCode::from_code(&self.code)
    }
    /// `NoSuchBucket`: the bucket does not exist.
    pub fn is_no_such_bucket(&self) -> bool {
        self.known_code() == KnownCode::NoSuchBucket
    }
    /// `InvalidBucketName`.
    pub fn is_invalid_bucket_name(&self) -> bool {
        self.known_code() == KnownCode::InvalidBucketName
    }
    /// `InvalidClientIp`.
    pub fn is_invalid_client_ip(&self) -> bool {
        self.known_code() == KnownCode::InvalidClientIp
    }
    /// `AccessDenied`: the account may not do this.
    pub fn is_access_denied(&self) -> bool {
        self.known_code() == KnownCode::AccessDenied
    }
    /// `UserDisable`: the account is disabled for arrears.
    pub fn is_user_disabled(&self) -> bool {
        self.known_code() == KnownCode::UserDisable
    }
    /// `NoPermission`.
    pub fn is_no_permission(&self) -> bool {
        self.known_code() == KnownCode::NoPermission
    }
}

impl Error {
    /// The API error, when the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The server's error `Code`, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    /// The HTTP status, when the server answered at all.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.http_status),
            Error::Redirect { status, .. }
            | Error::Decode { status, .. }
            | Error::ResponseTooLarge { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `RequestId`, when the server answered with one.
    pub fn request_id(&self) -> Option<&str> {
        self.api()
            .map(|e| e.request_id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// How many attempts the call made before this error: 0 when nothing
    /// was sent (bad input, configuration, credentials), else at least 1.
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Api(e) => e.attempts,
            Error::Transport { attempts, .. }
            | Error::Integrity { attempts, .. }
            | Error::Redirect { attempts, .. }
            | Error::Decode { attempts, .. }
            | Error::ResponseTooLarge { attempts, .. } => *attempts,
            _ => 0,
        }
    }

    /// Records the attempt count on errors that come from sending.
    pub(crate) fn with_attempts(mut self, n: u32) -> Error {
        match &mut self {
            Error::Api(e) => e.attempts = n,
            Error::Transport { attempts, .. }
            | Error::Integrity { attempts, .. }
            | Error::Redirect { attempts, .. }
            | Error::Decode { attempts, .. }
            | Error::ResponseTooLarge { attempts, .. } => *attempts = n,
            _ => {}
        }
        self
    }

    /// Removes every trace of the credentials' secrets from every text
    /// field (what the server or the network sent back can echo the signed
    /// request: a redirect's `Location`, an HTML page, a message, even a
    /// `Code` or `RequestId`), through [`crate::redact::secrets`].
    pub(crate) fn redact_secrets(mut self, secrets: &[&str]) -> Error {
        let scrub = |s: &mut String| {
            if !s.is_empty() {
                *s = crate::redact::secrets(s, secrets);
            }
        };
        match &mut self {
            Error::Api(e) => {
                let ApiError {
                    code,
                    message,
                    request_id,
                    host_id,
                    recommend,
                    ec,
                    signature_diagnosis,
                    ..
                } = &mut **e;
                for s in [code, message, request_id, host_id, recommend, ec] {
                    scrub(s);
                }
                if let Some(SignatureDiagnosis::CanonicalizationDiffers { client, server }) =
                    signature_diagnosis
                {
                    scrub(client);
                    scrub(server);
                }
            }
            Error::Transport { message, .. } => scrub(message),
            Error::Redirect {
                location: Some(location),
                ..
            } => scrub(location),
            Error::Decode {
                reason,
                body_prefix,
                ..
            } => {
                scrub(reason);
                scrub(body_prefix);
            }
            Error::Integrity {
                what, request_id, ..
            } => {
                scrub(what);
                scrub(request_id);
            }
            Error::InvalidInput { reason, .. }
            | Error::Config { reason }
            | Error::Credentials { reason, .. }
            | Error::LocalIo { reason, .. } => scrub(reason),
            _ => {}
        }
        self
    }

    /// An [`Error::InvalidInput`]: `field` refused for `reason` (the
    /// variants are `#[non_exhaustive]`, so code outside the crate builds
    /// them with these constructors).
    pub fn invalid_input(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Config`] naming what is wrong with the configuration.
    pub fn config(reason: impl Into<String>) -> Error {
        Error::Config {
            reason: reason.into(),
        }
    }

    /// An [`Error::Credentials`] saying what is wrong with the credentials.
    pub fn credentials(reason: impl Into<String>) -> Error {
        Error::Credentials {
            reason: reason.into(),
            source: None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_kind(f)?;
        match self.attempts() {
            n if n > 1 => write!(f, " (after {n} attempts)"),
            _ => Ok(()),
        }
    }
}

impl Error {
    fn fmt_kind(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => fmt::Display::fmt(e, f),
            Error::InvalidInput { field, reason } => write!(f, "invalid {field}: {reason}"),
            Error::Config { reason } => write!(f, "invalid client configuration: {reason}"),
            Error::Credentials { reason, .. } => write!(f, "credentials: {reason}"),
            Error::NoCredentials { looked_in } => write!(
                f,
                "no credentials found; looked in: {}",
                looked_in.join("; ")
            ),
            Error::Transport { kind, message, .. } => {
                write!(f, "transport error ({}): {message}", kind.as_str())
            }
            Error::Redirect {
                status, location, ..
            } => {
                write!(f, "the server answered HTTP {status} redirect")?;
                if let Some(loc) = location {
                    write!(f, " to {loc}")?;
                }
                f.write_str("; redirects are not followed so a signed request is never replayed to another host")
            }
            Error::Decode {
                status,
                reason,
                body_prefix,
                ..
            } => write!(
                f,
                "could not decode the HTTP {status} response ({reason}); body starts with: {body_prefix:?}"
            ),
            Error::ResponseTooLarge { status, limit, .. } => write!(
                f,
                "the HTTP {status} response body is larger than the {limit}-byte limit; refused"
            ),
            Error::Cancelled { bytes_done, total } => write!(
                f,
                "upload cancelled by the progress callback, with {bytes_done} of {total} bytes stored"
            ),
            Error::Integrity {
                what,
                local_crc64,
                server_crc64,
                request_id,
                ..
            } => {
                match server_crc64 {
                    Some(s) => write!(f, "integrity check failed for {what}: sent CRC-64 {local_crc64}, the server stored CRC-64 {s}")?,
                    None => write!(f, "integrity check failed for {what}: sent CRC-64 {local_crc64}, the server did not confirm it (no x-oss-hash-crc64ecma)")?,
                }
                if !request_id.is_empty() {
                    write!(f, " (RequestId: {request_id})")?;
                }
                Ok(())
            }
            Error::LocalIo { path, reason, .. } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HTTP {} {}: {}",
            self.http_status, self.code, self.message
        )?;
        if !self.ec.is_empty() {
            write!(f, " (EC: {})", self.ec)?;
        }
        if !self.request_id.is_empty() {
            write!(f, " (RequestId: {})", self.request_id)?;
        }
        match &self.signature_diagnosis {
            Some(SignatureDiagnosis::WrongSecret) => f.write_str(
                "; the server signed the same string as this client, so the AccessKey secret is wrong",
            ),
            Some(SignatureDiagnosis::CanonicalizationDiffers { client, server }) => write!(
                f,
                "; the client and server canonicalized the request differently:\n  client string to sign: {client}\n  server string to sign: {server}"
            ),
            Some(SignatureDiagnosis::ServerStringUnknown) | None => Ok(()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Api(e) => Some(&**e),
            Error::Transport {
                source: Some(io), ..
            }
            | Error::LocalIo {
                source: Some(io), ..
            } => Some(&**io),
            Error::Credentials {
                source: Some(e), ..
            } => Some(&**e),
            _ => None,
        }
    }
}
impl std::error::Error for ApiError {}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Error {
        Error::Api(Box::new(e))
    }
}
