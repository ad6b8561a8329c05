//! Which HTTP proxy a request goes through: one set on the builder, or the
//! environment's (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, as curl reads
//! them), never for loopback. The ENS endpoint and each OSS host are judged
//! by the same rules.

use crate::error::{Error, Result};

use super::Endpoint;

/// How the client picks an HTTP proxy.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum ProxySetting {
    /// `HTTPS_PROXY` / `HTTP_PROXY` (by the endpoint's scheme), minus `NO_PROXY`.
    FromEnv,
    /// Never use a proxy.
    Off,
    /// This proxy URL.
    Url(String),
}

impl ProxySetting {
    /// How the setting shows in `Debug`: never a proxy password.
    pub(crate) fn describe(&self) -> String {
        match self {
            ProxySetting::FromEnv => "from environment".to_owned(),
            ProxySetting::Off => "off".to_owned(),
            ProxySetting::Url(u) => crate::redact::userinfo(u),
        }
    }

    /// The proxy for requests to `endpoint`, if any.
    pub(crate) fn resolve(&self, endpoint: &Endpoint) -> Result<Option<ureq::Proxy>> {
        match self {
            ProxySetting::Off => Ok(None),
            ProxySetting::Url(url) => parse_proxy(url).map(Some),
            ProxySetting::FromEnv => proxy_from_env(endpoint, &|k| std::env::var(k).ok()),
        }
    }
}

pub(crate) fn parse_proxy(url: &str) -> Result<ureq::Proxy> {
    ureq::Proxy::new(url).map_err(|_| {
        Error::config(format!(
            "proxy URL {:?} is invalid (expected http://[user:pass@]host:port)",
            crate::redact::userinfo(url)
        ))
    })
}

/// The proxy the environment asks for this endpoint: `HTTPS_PROXY` (https)
/// or `HTTP_PROXY` (http), lowercase names too, unless `NO_PROXY` matches the
/// host. Loopback endpoints never go through a proxy.
pub(crate) fn proxy_from_env(
    endpoint: &Endpoint,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ureq::Proxy>> {
    let get = |upper: &str| {
        var(upper)
            .or_else(|| var(&upper.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let name = if endpoint.is_https() {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    let Some(url) = get(name) else {
        return Ok(None);
    };
    if endpoint.is_loopback() {
        return Ok(None);
    }
    if let Some(list) = get("NO_PROXY") {
        if no_proxy_matches(&list, endpoint.host()) {
            return Ok(None);
        }
    }
    parse_proxy(url.trim()).map(Some).map_err(|_| {
        Error::config(format!(
            "{name} is not a valid proxy URL: {:?}",
            crate::redact::userinfo(&url)
        ))
    })
}

/// `NO_PROXY` rules as curl reads them: `*`, exact hosts, and domain
/// suffixes with or without a leading dot; ports are ignored.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_start_matches('*');
            let entry = entry.trim_start_matches('.');
            // Drop a port, but not the colons of a bare IPv6 address.
            let entry = match entry.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => entry,
            };
            let entry = entry
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase();
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("*", "ens.aliyuncs.com"));
        assert!(no_proxy_matches("aliyuncs.com", "ens.aliyuncs.com"));
        assert!(no_proxy_matches(".aliyuncs.com", "ens.aliyuncs.com"));
        assert!(no_proxy_matches(
            "foo, ens.aliyuncs.com:443",
            "ens.aliyuncs.com"
        ));
        assert!(!no_proxy_matches("cs.com", "ens.aliyuncs.com"));
        assert!(no_proxy_matches("::1", "[::1]"));
        assert!(!no_proxy_matches("", "ens.aliyuncs.com"));
    }

    #[test]
    fn env_proxy_by_scheme_and_no_proxy() {
        let https = Endpoint::parse("https://ens.aliyuncs.com").unwrap();
        let http = Endpoint::parse("http://10.0.0.1:8080").unwrap();
        let env = |k: &str| match k {
            "HTTPS_PROXY" => Some("http://proxy:3128".to_owned()),
            "no_proxy" => Some("10.0.0.1".to_owned()),
            _ => None,
        };
        let p = proxy_from_env(&https, &env).unwrap().unwrap();
        assert_eq!((p.host(), p.port()), ("proxy", 3128));
        assert!(proxy_from_env(&http, &env).unwrap().is_none());
        let local = Endpoint::parse("https://127.0.0.1:9").unwrap();
        assert!(proxy_from_env(&local, &env).unwrap().is_none());
        let bad = |k: &str| (k == "HTTPS_PROXY").then(|| "http://u:pw@[bad".to_owned());
        let e = proxy_from_env(&https, &bad).unwrap_err().to_string();
        assert!(e.contains("HTTPS_PROXY") && !e.contains("pw"), "{e}");
    }
}
