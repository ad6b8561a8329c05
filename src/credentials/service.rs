//! One request to a credentials service (STS, the ECS metadata server, a
//! credentials URI), through the client's exchange and retry loop, and
//! the JSON answers those services share.

use std::time::Duration;

use serde::Deserialize;
use ureq::http::{HeaderName, HeaderValue};

use crate::error::{Error, Result};
use crate::http::{Answer, Body, Endpoint, Request, Retry, RetryPolicy, Session};

use super::{Credentials, FetchContext};

/// A request to a credentials service.
pub(crate) struct ServiceCall<'a> {
    /// For logs and errors, e.g. `AssumeRole`.
    pub(crate) op: &'a str,
    pub(crate) method: &'static str,
    pub(crate) url: &'a str,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// A form body (`application/x-www-form-urlencoded`), or empty.
    pub(crate) form: &'a [u8],
    /// How long the call may take, retries included.
    pub(crate) timeout: Duration,
    /// Whether proxies apply (never for the link-local metadata server).
    pub(crate) use_proxy: bool,
    /// Whether the answer's `Date` may teach the clock (Alibaba Cloud's
    /// own services: their `Expiration` is on that clock).
    pub(crate) learns_clock: bool,
}

/// Sends `call` (retried under the client's policy within its timeout)
/// and gives back any answer with a status; transport failures are errors.
pub(crate) fn send(ctx: &FetchContext<'_>, call: ServiceCall<'_>) -> Result<Answer> {
    let session: &Session = ctx.session;
    // Only the scheme and authority are judged (and ever shown): the rest
    // may carry a signature or a token.
    let endpoint = Endpoint::parse(origin(call.url))?;
    let proxy = if call.use_proxy {
        session.proxy.resolve(&endpoint)?
    } else {
        None
    };
    let retry = Retry {
        policy: RetryPolicy {
            max_retries: session.retry.max_retries.min(2),
            ..session.retry
        },
        deadline: Some(crate::clock::instant_after(call.timeout)),
        deadline_is_agents: false,
        server_wait_limit: call.timeout,
        cancel: None,
    };
    retry.run(|attempt| {
        let (result, hints) = session.exchange(Request {
            op: call.op,
            attempt,
            method: call.method,
            url: call.url,
            headers: call.headers.clone(),
            body: if call.form.is_empty() {
                Body::Empty
            } else {
                Body::Bytes(call.form)
            },
            stall: None,
            https: endpoint.is_https(),
            signed_offset: session.clock.get(),
            learns_clock: call.learns_clock,
            proxy: Some(proxy.clone()),
        });
        // 5xx and 429 are retried like any other service's.
        match result {
            Ok(a) if a.status >= 500 || a.status == 429 => (
                Err(crate::response::decode_error_answer(a.status, &a.body, "")),
                hints,
            ),
            other => (other, hints),
        }
    })
}

/// `scheme://host[:port]` of a URL: what comes before its path or query.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// The credentials in an answer shaped as STS's `Credentials` object, the
/// ECS metadata server's and a credentials URI's (the same four fields,
/// with `Code` = `Success` for the last two).
#[derive(Deserialize)]
pub(crate) struct IssuedCredentials {
    #[serde(rename = "AccessKeyId", default)]
    access_key_id: String,
    #[serde(rename = "AccessKeySecret", default)]
    access_key_secret: String,
    #[serde(rename = "SecurityToken", default)]
    security_token: String,
    #[serde(rename = "Expiration", default)]
    expiration: String,
    #[serde(rename = "Code", default)]
    pub(crate) code: Option<String>,
}

impl IssuedCredentials {
    /// Checks the fields and turns them into expiring STS credentials from
    /// `source`.
    pub(crate) fn into_credentials(self, source: &str) -> Result<Credentials> {
        let missing = [
            ("AccessKeyId", self.access_key_id.is_empty()),
            ("AccessKeySecret", self.access_key_secret.is_empty()),
            ("SecurityToken", self.security_token.is_empty()),
            ("Expiration", self.expiration.is_empty()),
        ];
        if let Some((name, _)) = missing.iter().find(|(_, m)| *m) {
            return Err(Error::credentials(format!(
                "{source} answered without {name}"
            )));
        }
        let Some(expiry) = crate::clock::parse_iso8601_utc(&self.expiration) else {
            return Err(Error::credentials(format!(
                "{source} answered an Expiration that is not an ISO 8601 UTC time: {:?}",
                self.expiration.chars().take(40).collect::<String>()
            )));
        };
        Ok(Credentials::sts(
            self.access_key_id,
            self.access_key_secret,
            self.security_token,
        )
        .with_expiration_unix(expiry)
        .with_source(source))
    }
}

/// Decodes a JSON answer as `T`, naming `source` when it is not JSON of
/// that shape (without quoting the body: it may hold a secret).
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    answer: &Answer,
    source: &str,
) -> Result<T> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        Error::credentials(format!(
            "{source} answered HTTP {} with a body that is not the expected JSON \
             ({} at line {}, column {})",
            answer.status,
            match e.classify() {
                serde_json::error::Category::Data => "wrong shape",
                serde_json::error::Category::Eof => "cut short",
                _ => "not JSON",
            },
            e.line(),
            e.column()
        ))
    })
}
