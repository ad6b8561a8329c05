//! The one place that removes secrets from text.
//!
//! Servers echo requests back (a redirect's `Location` with the signed URL,
//! an HTML page quoting it, a `SignatureDoesNotMatch` answer with the
//! string to sign), and proxies carry passwords in their URLs. Everything
//! the crate shows — every field of an [`Error`](crate::Error), every
//! `Debug`, every log line — goes through [`tokens`] or [`secrets`] first.

/// What stands where a secret was.
pub(crate) const REDACTED: &str = "<redacted>";

/// Header lines whose value is a token, as they appear in a canonical
/// request or string to sign.
const TOKEN_HEADER_LINES: &[&str] = &["x-oss-security-token:", "x-acs-security-token:"];

/// `text` with every security-token or signature value hidden, whatever
/// the credentials: `SecurityToken=` / `SecurityToken%3D` values, `Signature=`
/// values, `x-oss-security-token:` and `x-acs-security-token:` header lines.
pub(crate) fn tokens(text: &str) -> String {
    // In a string to sign the separators are encoded; in a query they are not.
    let mut out = value(text, "SecurityToken%3D", "%26");
    out = value(&out, "SecurityToken=", "&");
    out = value(&out, "Signature=", "&");
    if TOKEN_HEADER_LINES.iter().any(|h| out.contains(h)) {
        out = out
            .split('\n')
            .map(|line| {
                match TOKEN_HEADER_LINES
                    .iter()
                    .find(|h| line.trim_start().starts_with(**h))
                {
                    Some(h) => format!("{h}{REDACTED}"),
                    None => line.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    out
}

/// [`tokens`], plus each of `secrets` (the AccessKey secret, the security
/// token) wherever it appears (as they are, percent-encoded once and twice), plus a
/// trailing start of either (four bytes or more): what is left of a secret
/// when a body was cut to its first bytes.
pub(crate) fn secrets(text: &str, secrets: &[&str]) -> String {
    let mut out = tokens(text);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let once = encode(secret);
        let twice = encode(&once);
        for needle in [secret, once.as_str(), twice.as_str()] {
            if out.contains(needle) {
                out = out.replace(needle, REDACTED);
            }
        }
    }
    cut_secret(&out, secrets)
}

/// Percent-encoded as the signers encode (every byte but
/// `A-Z a-z 0-9 - _ . ~`): how a secret appears in a signed URL.
fn encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// `scheme://user:pass@host` → `scheme://***@host`, for messages.
/// A URL without a scheme (`user:pw@host/...`) is treated the same way.
pub(crate) fn userinfo(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{prefix}***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `text` with a trailing start of a secret (see [`secrets`]) hidden.
fn cut_secret(text: &str, secrets: &[&str]) -> String {
    const MIN: usize = 4;
    for secret in secrets {
        let once = encode(secret);
        for needle in [secret, once.as_str()] {
            let longest = needle.len().saturating_sub(1);
            for len in (MIN..=longest).rev() {
                let Some(start) = needle.get(..len) else {
                    continue;
                };
                if let Some(kept) = text.strip_suffix(start) {
                    return format!("{kept}{REDACTED}");
                }
            }
        }
    }
    text.to_owned()
}

/// Replaces what follows each `key` up to the next `end` with [`REDACTED`].
fn value(s: &str, key: &str, end: &str) -> String {
    if !s.contains(key) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find(key) {
        let after = pos + key.len();
        out.push_str(&rest[..after]);
        out.push_str(REDACTED);
        let tail = &rest[after..];
        rest = &tail[tail.find(end).unwrap_or(tail.len())..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_are_hidden_in_strings_to_sign_and_queries() {
        let s = "POST&%2F&A%3Db%26SecurityToken%3DCAIS%252Btok%26Timestamp%3D1";
        assert_eq!(
            tokens(s),
            "POST&%2F&A%3Db%26SecurityToken%3D<redacted>%26Timestamp%3D1"
        );
        assert_eq!(
            tokens("x%26SecurityToken%3Dtail"),
            "x%26SecurityToken%3D<redacted>"
        );
        assert_eq!(
            tokens("A=1&SecurityToken=CAIS%2Bx&T=2&Signature=abc"),
            "A=1&SecurityToken=<redacted>&T=2&Signature=<redacted>"
        );
    }

    #[test]
    fn token_header_lines_are_hidden() {
        let s = "PUT\n\nx-oss-security-token:TOK\n/b/k\nx-acs-security-token:TOK2\nx-acs-date:1";
        let out = tokens(s);
        assert!(!out.contains("TOK"), "{out}");
        assert!(
            out.contains("x-oss-security-token:<redacted>\n/b/k"),
            "{out}"
        );
        assert!(out.ends_with("x-acs-date:1"), "{out}");
    }

    #[test]
    fn secrets_are_hidden_whole_encoded_and_cut() {
        let creds: &[&str] = &["se/cr+et", "TO=KEN"];
        assert_eq!(encode("se/cr+et"), crate::sign::percent_encode("se/cr+et"));
        let text = "a se/cr+et b se%2Fcr%2Bet c se%252Fcr%252Bet d TO=KEN";
        let out = secrets(text, creds);
        assert!(!out.contains("cr"), "{out}");
        assert!(!out.contains("KEN"), "{out}");
        assert_eq!(
            secrets("body ends with se/cr", creds),
            "body ends with <redacted>"
        );
        assert_eq!(secrets("nothing here", creds), "nothing here");
    }

    #[test]
    fn userinfo_is_hidden() {
        assert_eq!(userinfo("http://u:p@h:1"), "http://***@h:1");
        assert_eq!(userinfo("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(userinfo("u:pw@evil.example/#"), "***@evil.example/#");
    }
}
