//! Where signed uploads may go.
//!
//! The `Endpoint` in a `PrepareUpload` answer receives the OSS
//! `Authorization` and any STS token: an answer must not be able to send
//! them anywhere. When the ENS endpoint is an Alibaba Cloud host, only
//! Alibaba Cloud hosts (`*.aliyuncs.com`: OSS, its regional and internal
//! endpoints, ENS edge storage `eos.aliyuncs.com`) may receive uploads;
//! when it is anything else (the emulator on loopback, a private
//! gateway), only its own origin (same host and port). Anything more
//! must be allowed by name ([`UploadOptions::allow_upload_host`]).
//!
//! [`UploadOptions::allow_upload_host`]: super::UploadOptions::allow_upload_host

use crate::error::{Error, Result};
use crate::http::Endpoint;

/// The domain of Alibaba Cloud's service endpoints.
const ALIBABA_CLOUD_DOMAIN: &str = "aliyuncs.com";

/// Whether `host` is `domain` or one of its subdomains.
fn in_domain(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Checks an allow-list entry: `host`, `host:port`, or `*.domain`.
pub(crate) fn validate_pattern(pattern: &str) -> Result<()> {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    let url = format!("http://{host}");
    match Endpoint::parse(&url) {
        Ok(_) if !host.is_empty() => Ok(()),
        _ => Err(Error::invalid_input(
            "allowed upload host",
            format!(
                "{:?} is not host, host:port or *.domain",
                crate::prepare_upload::truncate_for_message(pattern)
            ),
        )),
    }
}

/// Whether `target` matches the allow-list entry `pattern`.
fn matches(pattern: &str, target: &Endpoint) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    if let Some(domain) = pattern.strip_prefix("*.") {
        return in_domain(target.host(), domain);
    }
    match Endpoint::parse(&format!("http://{pattern}")) {
        Ok(p) if pattern.contains(':') && !pattern.ends_with(']') => {
            p.host() == target.host() && p.port() == target.port()
        }
        Ok(p) => p.host() == target.host(),
        Err(_) => false,
    }
}

/// Refuses a target the policy does not allow, naming the host and the
/// options that allow it.
pub(crate) fn check(ens: &Endpoint, target: &Endpoint, allowed: &[String]) -> Result<()> {
    if allowed.iter().any(|p| matches(p, target)) {
        return Ok(());
    }
    let (ok, rule) = if in_domain(ens.host(), ALIBABA_CLOUD_DOMAIN) {
        (
            in_domain(target.host(), ALIBABA_CLOUD_DOMAIN),
            "the ENS endpoint is Alibaba Cloud's, so uploads go only to *.aliyuncs.com",
        )
    } else {
        (
            target.host() == ens.host() && target.port() == ens.port(),
            "the ENS endpoint is not Alibaba Cloud's, so uploads go only to its own host and port",
        )
    };
    if ok {
        return Ok(());
    }
    let host = target.authority();
    Err(Error::invalid_input(
        "upload endpoint",
        format!(
            "PrepareUpload answered Endpoint {host}, where signed uploads are not sent: {rule}; to allow it, add it with UploadOptions::allow_upload_host(\"{host}\") (C: ens_upload_options_allow_upload_host, CLI: --allow-upload-host {host})"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap()
    }

    #[test]
    fn alibaba_cloud_answers_stay_in_alibaba_cloud() {
        let ens = ep("https://ens.aliyuncs.com");
        for ok in [
            "https://eos.aliyuncs.com",
            "https://b.oss-cn-hangzhou.aliyuncs.com",
        ] {
            assert!(check(&ens, &ep(ok), &[]).is_ok(), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "https://aliyuncs.com.evil.example",
            "https://evilaliyuncs.com",
            "http://169.254.169.254",
        ] {
            let e = check(&ens, &ep(bad), &[]).unwrap_err().to_string();
            assert!(
                e.contains("allow_upload_host") && e.contains("--allow-upload-host"),
                "{e}"
            );
        }
        assert!(check(&ens, &ep("https://oss.example"), &["oss.example".into()]).is_ok());
        assert!(check(&ens, &ep("https://a.b.example"), &["*.b.example".into()]).is_ok());
    }

    #[test]
    fn other_endpoints_allow_only_their_own_origin() {
        let ens = ep("http://127.0.0.1:8080");
        assert!(check(&ens, &ep("http://127.0.0.1:8080"), &[]).is_ok());
        for bad in [
            "http://127.0.0.1:8081",
            "http://localhost:8080",
            "http://0.0.0.0:8080",
            "https://eos.aliyuncs.com",
        ] {
            assert!(check(&ens, &ep(bad), &[]).is_err(), "{bad}");
        }
        assert!(check(&ens, &ep("http://127.0.0.1:9"), &["127.0.0.1:9".into()]).is_ok());
        assert!(check(&ens, &ep("http://127.0.0.1:9"), &["127.0.0.1:10".into()]).is_err());
    }

    #[test]
    fn patterns_are_checked() {
        for ok in [
            "oss.example",
            "oss.example:8443",
            "*.example.com",
            "[::1]:9",
        ] {
            assert!(validate_pattern(ok).is_ok(), "{ok}");
        }
        for bad in ["", "*.", "http://x", "a/b", "u@h"] {
            assert!(validate_pattern(bad).is_err(), "{bad}");
        }
    }
}
