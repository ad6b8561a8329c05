//! Where an object goes: the bucket and endpoint `PrepareUpload` handed out,
//! the scheme, and virtual-hosted or path-style addressing.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::sign;

/// The longest object key OSS accepts, in bytes.
pub const MAX_OBJECT_KEY_LEN: usize = 1023;

/// Checks an object key the way OSS does, plus what HTTP cannot carry
/// safely: 1 to 1023 bytes, not starting with `/` or `\`, no control
/// characters, and no `.` or `..` path segment (clients and proxies
/// normalize those away, so the signed key would not be the stored one).
pub fn validate_object_key(key: &str) -> Result<()> {
    let bad = |why: String| Err(Error::invalid_input("object key", why));
    if key.is_empty() {
        return bad("must not be empty".into());
    }
    if key.len() > MAX_OBJECT_KEY_LEN {
        return bad(format!(
            "is {} bytes long; OSS allows at most {MAX_OBJECT_KEY_LEN}",
            key.len()
        ));
    }
    if key.starts_with(['/', '\\']) {
        return bad("must not start with '/' or '\\'".into());
    }
    if let Some(pos) = key.find(char::is_control) {
        return bad(format!("contains a control character at byte {pos}"));
    }
    if key.split('/').any(|seg| seg == "." || seg == "..") {
        return bad("must not have a '.' or '..' path segment".into());
    }
    Ok(())
}

/// The physical bucket and endpoint of one upload, and how to address them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The bucket `PrepareUpload` returned.
    pub(crate) bucket: String,
    /// `host[:port]` as `PrepareUpload` returned it (lowercased).
    pub(crate) endpoint: String,
    pub(crate) https: bool,
    pub(crate) path_style: bool,
}

impl Target {
    /// Checks what `PrepareUpload` returned before it goes into a URL.
    ///
    /// The scheme is `force_https` when the caller set it
    /// ([`UploadOptions::https`](super::UploadOptions::https)); otherwise
    /// the client's (`default_https`), which an `https://` `Endpoint` in the
    /// answer may upgrade but an `http://` one never downgrades: the answer
    /// must not move an https client's credentials and data to plain text.
    pub(crate) fn new(
        bucket: &str,
        endpoint: &str,
        default_https: bool,
        force_https: Option<bool>,
        force_path_style: bool,
    ) -> Result<Target> {
        check_answer(bucket, endpoint)?;
        let (scheme_https, authority) = match endpoint.split_once("://") {
            Some((s, rest)) => (Some(s.eq_ignore_ascii_case("https")), rest),
            None => (None, endpoint),
        };
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        let https = scheme(default_https, force_https, scheme_https);
        // Reuse the client's endpoint checks: host[:port], nothing else.
        let parsed = crate::http::Endpoint::parse(&format!(
            "{}://{authority}",
            if https { "https" } else { "http" }
        ))
        .map_err(|_| {
            bad_answer(format!(
                "PrepareUpload returned Endpoint {:?}, which is not host[:port]",
                crate::prepare_upload::truncate_for_message(&crate::redact::userinfo(endpoint))
            ))
        })?;
        let host = parsed.host();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let virtual_hosting_impossible = bare == "localhost" || bare.parse::<IpAddr>().is_ok();
        let endpoint = parsed
            .as_str()
            .split_once("://")
            .map_or(authority, |(_, a)| a)
            .to_owned();
        Ok(Target {
            bucket: bucket.to_owned(),
            endpoint,
            https,
            path_style: force_path_style || virtual_hosting_impossible,
        })
    }

    /// The URL of `key` with `query` (already encoded, without `?`).
    pub(crate) fn url(&self, key: &str, query: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let mut url = String::with_capacity(
            self.endpoint.len() + self.bucket.len() + key.len() * 3 / 2 + query.len() + 16,
        );
        url.push_str(scheme);
        url.push_str("://");
        if self.path_style {
            url.push_str(&self.endpoint);
            url.push('/');
            url.push_str(&self.bucket);
        } else {
            url.push_str(&self.bucket);
            url.push('.');
            url.push_str(&self.endpoint);
        }
        url.push('/');
        url.push_str(&encode_key(key));
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

/// Whether to use https: the caller's choice if made; else the client's,
/// upgraded (never downgraded) by a scheme in the answered `Endpoint`.
fn scheme(client_https: bool, caller: Option<bool>, answered: Option<bool>) -> bool {
    caller.unwrap_or(client_https || answered == Some(true))
}

/// Percent-encodes each `/`-separated segment of a key, keeping the `/`.
pub(crate) fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() * 3 / 2);
    for (i, seg) in key.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        sign::percent_encode_into(&mut out, seg);
    }
    out
}

/// OSS bucket naming: 3 to 63 of `a-z 0-9 -`, not starting or ending with `-`.
pub(crate) fn is_valid_oss_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Checks a `PrepareUpload` answer's `BucketName` and `Endpoint` with the
/// rules [`Target::new`] applies, without building one: every prepare
/// answer passes through here, so nothing is allocated unless it fails.
pub(crate) fn check_answer(bucket: &str, endpoint: &str) -> Result<()> {
    if !is_valid_oss_bucket(bucket) {
        return Err(bad_answer(format!(
            "PrepareUpload returned BucketName {:?}, which is not a valid OSS bucket name",
            crate::prepare_upload::truncate_for_message(bucket)
        )));
    }
    // The scheme ends at the first ':' when "//" follows it; a ':' without
    // it starts a port. (Found by byte, not by a substring search: this
    // runs on every PrepareUpload answer.)
    let scheme_end = endpoint
        .find(':')
        .filter(|&i| endpoint[i + 1..].starts_with("//"));
    let split = scheme_end.map(|i| (&endpoint[..i], &endpoint[i + 3..]));
    let authority = match split {
        Some((s, rest)) if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http") => {
            rest
        }
        Some(_) => {
            return Err(bad_answer(format!(
                "PrepareUpload returned Endpoint {:?} with a scheme other than http(s)",
                crate::prepare_upload::truncate_for_message(&crate::redact::userinfo(endpoint))
            )))
        }
        None => endpoint,
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    crate::http::split_authority(authority)
        .map(|_| ())
        .map_err(|_| {
            bad_answer(format!(
                "PrepareUpload returned Endpoint {:?}, which is not host[:port]",
                crate::prepare_upload::truncate_for_message(&crate::redact::userinfo(endpoint))
            ))
        })
}

impl Target {
    /// The OSS host as an endpoint, for the upload policy and the proxy rules.
    pub(crate) fn as_endpoint(&self) -> Result<crate::http::Endpoint> {
        let scheme = if self.https { "https" } else { "http" };
        crate::http::Endpoint::parse(&format!("{scheme}://{}", self.endpoint))
    }
}

fn bad_answer(reason: String) -> Error {
    Error::Decode {
        status: 200,
        reason,
        body_prefix: String::new(),
        attempts: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressing_follows_the_endpoint() {
        let t = Target::new(
            "b-1a2b3c",
            "oss-cn-hangzhou.aliyuncs.com",
            true,
            None,
            false,
        )
        .unwrap();
        assert!(!t.path_style);
        assert_eq!(
            t.url("dir/a b+c.bin", ""),
            "https://b-1a2b3c.oss-cn-hangzhou.aliyuncs.com/dir/a%20b%2Bc.bin"
        );
        let forced = Target::new("bkt", "oss.example.com:8080", false, None, true).unwrap();
        assert_eq!(
            forced.url("k", "uploads"),
            "http://oss.example.com:8080/bkt/k?uploads"
        );
        for ip_like in ["127.0.0.1:9000", "localhost", "[::1]:80", "10.1.2.3"] {
            let t = Target::new("bkt", ip_like, false, None, false).unwrap();
            assert!(t.path_style, "{ip_like}");
            assert!(t.url("k", "").ends_with("/bkt/k"), "{ip_like}");
        }
        assert!(Target::new("bkt", "h", true, None, false).unwrap().https);
        assert!(!Target::new("bkt", "h", false, None, false).unwrap().https);
    }

    #[test]
    fn the_answer_never_downgrades_the_scheme() {
        let https = |endpoint: &str, client: bool, caller: Option<bool>| {
            Target::new("bkt", endpoint, client, caller, false)
                .unwrap()
                .https
        };
        // An https client stays on https whatever the answer says...
        for endpoint in ["http://h", "HTTP://h:80", "http://h/", "h", "https://h"] {
            assert!(https(endpoint, true, None), "{endpoint}");
            let t = Target::new("bkt", endpoint, true, None, false).unwrap();
            assert!(t.url("k", "").starts_with("https://bkt.h"), "{endpoint}");
        }
        // ...an answered https upgrades an http client...
        assert!(https("https://h", false, None));
        assert!(https("HTTPS://h:443", false, None));
        assert!(!https("http://h", false, None));
        assert!(!https("h", false, None));
        // ...and only the caller's own choice decides otherwise.
        assert!(!https("http://h", true, Some(false)));
        assert!(!https("https://h", true, Some(false)));
        assert!(https("http://h", false, Some(true)));
        assert!(https("h", false, Some(true)));
    }

    #[test]
    fn refuses_what_cannot_go_into_a_url() {
        for (bucket, endpoint) in [
            ("Bad_Bucket", "h"),
            ("ok-bucket", "h/path"),
            ("ok-bucket", "ftp://h"),
            ("ok-bucket", "u@h"),
            ("ok-bucket", ""),
        ] {
            let e = Target::new(bucket, endpoint, true, None, false).unwrap_err();
            assert!(
                matches!(e, Error::Decode { .. }),
                "{bucket} {endpoint}: {e}"
            );
        }
    }

    #[test]
    fn object_keys() {
        for ok in [
            "a",
            "dir/sub/file.bin",
            "日本/空 白.txt",
            "a..b/.c",
            &"k".repeat(1023),
        ] {
            assert!(validate_object_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "\\win",
            "a\nb",
            "a/../b",
            "./a",
            "a/.",
            &"k".repeat(1024),
        ] {
            let e = validate_object_key(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad:?}");
        }
        assert_eq!(encode_key("a b/c%d/~e"), "a%20b/c%25d/~e");
    }
}
