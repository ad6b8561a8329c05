//! Endpoint URLs: `http(s)://host[:port]`, checked once at `build()`.

use std::net::IpAddr;

use crate::error::{Error, Result};

/// A checked endpoint: scheme, host and optional port, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port]`, no trailing slash.
    base: String,
    https: bool,
    /// The host as written in the URL (IPv6 keeps its brackets).
    host: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port]` with an optional trailing `/`.
    pub(crate) fn parse(url: &str) -> Result<Endpoint> {
        let bad = |why: &str| {
            Err(Error::config(format!(
                "endpoint {:?} is not a valid http(s)://host[:port] URL: {why}",
                crate::prepare_upload::truncate_for_message(&crate::redact::userinfo(url))
            )))
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return bad("missing scheme");
        };
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return bad("the scheme must be http or https");
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match split_authority(authority) {
            Ok(parts) => parts,
            Err(why) => return bad(why),
        };
        let base = format!(
            "{}://{}{}",
            if https { "https" } else { "http" },
            host.to_ascii_lowercase(),
            port.map(|p| format!(":{p}")).unwrap_or_default()
        );
        Ok(Endpoint {
            base,
            https,
            host: host.to_ascii_lowercase(),
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.base
    }

    /// `host[:port]`, as the `Host` header carries it.
    pub(crate) fn authority(&self) -> &str {
        self.base.split_once("://").map_or(&self.base, |(_, a)| a)
    }

    pub(crate) fn is_https(&self) -> bool {
        self.https
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// `localhost`, `127.0.0.0/8`, `::1`, or an IPv4-mapped loopback
    /// address (`::ffff:127.0.0.1`).
    pub(crate) fn is_loopback(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare == "localhost"
            || match bare.parse::<IpAddr>() {
                Ok(IpAddr::V6(v6)) => {
                    v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                }
                Ok(ip) => ip.is_loopback(),
                Err(_) => false,
            }
    }

    /// The port, written or the scheme's default.
    pub(crate) fn port(&self) -> u16 {
        self.authority()
            .rsplit_once(':')
            .filter(|(h, _)| !h.ends_with(':') && !self.authority().ends_with(']'))
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(if self.https { 443 } else { 80 })
    }
}

/// Checks `host[:port]` (IPv6 in brackets) without allocating: every
/// request's answer passes through here. Returns the host and the port as
/// written, or why the text is not an authority.
pub(crate) fn split_authority(
    authority: &str,
) -> std::result::Result<(&str, Option<&str>), &'static str> {
    if authority.is_empty() {
        return Err("missing host");
    }
    // One pass over the bytes (a multi-character `contains` costs several
    // times as much, on every answer).
    let (mut path, mut user) = (false, false);
    for &b in authority.as_bytes() {
        path |= matches!(b, b'/' | b'?' | b'#');
        user |= b == b'@';
    }
    if path {
        return Err("no path, query or fragment is allowed");
    }
    if user {
        return Err("no user name or password is allowed");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("unclosed '[' in IPv6 host");
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address");
        }
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Err("unexpected text after ']'"),
            },
        };
        (&authority[..addr.len() + 2], port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("missing host");
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err("the host may only hold letters, digits, '-', '_' and '.'");
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err("the port must be a number from 1 to 65535"),
        }
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_includes_ipv4_mapped_addresses_and_ports_default_by_scheme() {
        for url in [
            "http://[::ffff:127.0.0.1]:9",
            "http://localhost",
            "http://127.8.0.1",
            "http://[::1]:80",
        ] {
            assert!(Endpoint::parse(url).unwrap().is_loopback(), "{url}");
        }
        assert!(!Endpoint::parse("http://[::ffff:10.0.0.1]")
            .unwrap()
            .is_loopback());
        assert_eq!(Endpoint::parse("https://a.b").unwrap().port(), 443);
        assert_eq!(Endpoint::parse("http://a.b").unwrap().port(), 80);
        assert_eq!(Endpoint::parse("http://a.b:8080").unwrap().port(), 8080);
        assert_eq!(Endpoint::parse("http://[::1]").unwrap().port(), 80);
        assert_eq!(Endpoint::parse("http://[::1]:81").unwrap().port(), 81);
    }

    #[test]
    fn accepts_http_and_https_hosts_ports() {
        for (input, base) in [
            ("https://ens.aliyuncs.com", "https://ens.aliyuncs.com"),
            ("https://ens.aliyuncs.com/", "https://ens.aliyuncs.com"),
            ("HTTP://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:9000", "http://[::1]:9000"),
            ("https://[2001:db8::1]", "https://[2001:db8::1]"),
        ] {
            assert_eq!(Endpoint::parse(input).unwrap().as_str(), base, "{input}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for input in [
            "",
            "ens.aliyuncs.com",
            "ftp://host",
            "https://",
            "https://host/path",
            "https://host?q",
            "https://u:p@host",
            "https://host:0",
            "https://host:99999",
            "https://host:+1",
            "https://[::1",
            "https://[nothex]:1",
            "https://ho st",
            "https://host:",
        ] {
            let e = Endpoint::parse(input).unwrap_err();
            assert!(matches!(e, Error::Config { .. }), "{input}: {e}");
        }
    }

    #[test]
    fn loopback_detection() {
        assert!(Endpoint::parse("http://localhost:1").unwrap().is_loopback());
        assert!(Endpoint::parse("http://127.9.0.1").unwrap().is_loopback());
        assert!(Endpoint::parse("http://[::1]").unwrap().is_loopback());
        assert!(!Endpoint::parse("http://10.0.0.1").unwrap().is_loopback());
    }
}
