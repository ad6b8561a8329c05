//! OSS signature V4 (`OSS4-HMAC-SHA256`), as a pure function.
//!
//! OSS stopped accepting signature V1 for new accounts (March 2025) and new
//! buckets (September 2025); V4 is what the current official SDKs send.
//! Kept free of I/O and clocks so it can be checked byte for byte against
//! the vectors an official SDK made (`tests/data/oss_v4_signature.json`);
//! the emulator verifies requests with it too.
//!
//! The rules, as the official SDKs apply them:
//! - canonical URI: `/<bucket>/<key>` (the bucket even for virtual-hosted
//!   requests), every byte but `A-Z a-z 0-9 - _ . ~ /` as `%XX`;
//! - canonical query: every parameter, names and values encoded the same
//!   way (`/` too), sorted, `k=v` joined by `&`, a bare `k` when the value
//!   is absent or empty;
//! - canonical headers: `name:value\n` (name lowercased, value trimmed,
//!   sorted by name, repeated names' values joined by `,`) for every
//!   `x-oss-*` header, `content-type`, `content-md5`, and the additional
//!   headers;
//! - the payload hash is the `x-oss-content-sha256` header (`UNSIGNED-PAYLOAD`);
//! - the signing key is HMAC-SHA256 chained from `"aliyun_v4" + secret`
//!   over the date, the region, `oss` and `aliyun_v4_request`.

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// The name of the algorithm, first in `Authorization` and the string to sign.
pub const OSS_V4_ALGORITHM: &str = "OSS4-HMAC-SHA256";

/// The payload hash when the body is not hashed (what the SDKs send).
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What stays as is in a query name or value: `A-Z a-z 0-9 - _ . ~`.
const QUERY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What stays as is in the canonical URI: the same, and `/`.
const PATH_KEEP: &AsciiSet = &QUERY_KEEP.remove(b'/');

/// What signature V4 derives from a request.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OssV4Signature {
    /// `METHOD\nURI\nQUERY\nHEADERS\n\nADDITIONAL_HEADERS\nPAYLOAD_HASH`.
    pub canonical_request: String,
    /// `OSS4-HMAC-SHA256\n<x-oss-date>\n<scope>\n<hex SHA-256 of the
    /// canonical request>`.
    pub string_to_sign: String,
    /// Hex HMAC-SHA256 of the string to sign with the derived signing key.
    pub signature: String,
    /// `<YYYYMMDD>/<region>/oss/aliyun_v4_request`.
    pub scope: String,
    /// The additional signed header names, lowercase, sorted, joined by
    /// `;` (empty when there are none).
    pub additional_headers: String,
}

impl std::fmt::Debug for OssV4Signature {
    // The canonical request holds the STS token when there is one, and the
    // signature is a credential for one request.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OssV4Signature")
            .field(
                "canonical_request",
                &crate::redact::tokens(&self.canonical_request),
            )
            .field("string_to_sign", &self.string_to_sign)
            .field("signature", &crate::redact::REDACTED)
            .field("scope", &self.scope)
            .field("additional_headers", &self.additional_headers)
            .finish()
    }
}

impl OssV4Signature {
    /// The `Authorization` header value:
    /// `OSS4-HMAC-SHA256 Credential=<id>/<scope>[,AdditionalHeaders=<names>],Signature=<hex>`.
    pub fn authorization(&self, access_key_id: &str) -> String {
        let mut out = format!(
            "{OSS_V4_ALGORITHM} Credential={access_key_id}/{}",
            self.scope
        );
        if !self.additional_headers.is_empty() {
            out.push_str(",AdditionalHeaders=");
            out.push_str(&self.additional_headers);
        }
        out.push_str(",Signature=");
        out.push_str(&self.signature);
        out
    }
}

/// Signs an OSS request with signature V4 (`OSS4-HMAC-SHA256`).
///
/// - `bucket`: the canonical URI is `/<bucket>/<key>` (the bucket is in it
///   for virtual-hosted requests too), `/<bucket>/` for bucket calls, and
///   `/` (then the key, normally empty) without a bucket.
/// - `query`: every query parameter, raw (not encoded): they are encoded
///   and sorted here; `None` or an empty value signs a bare name.
/// - `headers`: every header the request sends, `x-oss-date`,
///   `x-oss-content-sha256` and any `x-oss-security-token` included; only
///   `x-oss-*`, `content-type`, `content-md5` and the additional ones are
///   signed.
/// - `additional_headers`: further header names to sign (such as `host`);
///   those not sent, or signed anyway, are left out, as the SDKs do.
/// - `region`: the bare region id (`cn-hangzhou`, not `oss-cn-hangzhou`).
/// - `oss_date`: the `x-oss-date` value, `YYYYMMDDTHHMMSSZ`.
///
/// ```
/// use ens_upload::sign::oss_v4;
/// let sig = oss_v4(
///     "PUT",
///     Some("bucket"),
///     "dir/a b.txt",
///     &[],
///     &[("x-oss-date", "20240506T070809Z"), ("x-oss-content-sha256", "UNSIGNED-PAYLOAD")],
///     &[],
///     "cn-hangzhou",
///     "20240506T070809Z",
///     "secret",
/// );
/// assert!(sig.canonical_request.starts_with("PUT\n/bucket/dir/a%20b.txt\n\n"));
/// assert_eq!(sig.scope, "20240506/cn-hangzhou/oss/aliyun_v4_request");
/// assert!(sig.authorization("AK").starts_with("OSS4-HMAC-SHA256 Credential=AK/20240506/"));
/// ```
#[allow(clippy::too_many_arguments)] // the shape the client and emulator share
pub fn oss_v4<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    bucket: Option<&str>,
    key: &str,
    query: &[(&str, Option<&str>)],
    headers: &[(K, V)],
    additional_headers: &[&str],
    region: &str,
    oss_date: &str,
    secret: &str,
) -> OssV4Signature {
    let mut uri = String::from("/");
    if let Some(b) = bucket {
        uri.push_str(b);
        uri.push('/');
    }
    uri.push_str(key);
    let canonical_uri = utf8_percent_encode(&uri, PATH_KEEP).to_string();

    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| {
            let k = utf8_percent_encode(k, QUERY_KEEP).to_string();
            let v = utf8_percent_encode(v.unwrap_or(""), QUERY_KEEP).to_string();
            (k, v)
        })
        .collect();
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");

    let sent: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.as_ref().trim()))
        .collect();
    let mut additional: Vec<String> = additional_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| !signed_by_default(h))
        .filter(|h| sent.iter().any(|(k, v)| k == h && !v.is_empty()))
        .collect();
    additional.sort();
    additional.dedup();

    let mut signed: Vec<&(String, &str)> = sent
        .iter()
        .filter(|(k, _)| signed_by_default(k) || additional.contains(k))
        .collect();
    // Stable: repeated names keep the order they were sent in.
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    let mut previous: Option<&str> = None;
    for (name, value) in signed {
        if previous == Some(name.as_str()) {
            canonical_headers.pop(); // the '\n': another value of that name
            canonical_headers.push(',');
        } else {
            canonical_headers.push_str(name);
            canonical_headers.push(':');
        }
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
        previous = Some(name);
    }

    let additional_headers = additional.join(";");
    let payload_hash = sent
        .iter()
        .find(|(k, v)| k == "x-oss-content-sha256" && !v.is_empty())
        .map_or(UNSIGNED_PAYLOAD, |(_, v)| v);
    let canonical_request = format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{additional_headers}\n{payload_hash}"
    );

    let date = oss_date.get(..8).unwrap_or(oss_date);
    let scope = format!("{date}/{region}/oss/aliyun_v4_request");
    let string_to_sign = format!(
        "{OSS_V4_ALGORITHM}\n{oss_date}\n{scope}\n{}",
        super::encode::hex(&Sha256::digest(canonical_request.as_bytes()))
    );

    let mut key = hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes());
    for part in [region, "oss", "aliyun_v4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = super::encode::hex(&hmac_sha256(&key, string_to_sign.as_bytes()));

    OssV4Signature {
        canonical_request,
        string_to_sign,
        signature,
        scope,
        additional_headers,
    }
}

/// Headers V4 always signs: every `x-oss-*`, `content-type`, `content-md5`.
fn signed_by_default(lowercase_name: &str) -> bool {
    lowercase_name.starts_with("x-oss-")
        || lowercase_name == "content-type"
        || lowercase_name == "content-md5"
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(headers: &[(&str, &str)], additional: &[&str]) -> OssV4Signature {
        oss_v4(
            "GET",
            Some("b"),
            "k",
            &[("uploads", None), ("z", Some("")), ("a b", Some("c/d"))],
            headers,
            additional,
            "cn-hangzhou",
            "20240506T070809Z",
            "secret",
        )
    }

    #[test]
    fn query_and_headers_are_canonical() {
        let sig = sign(
            &[
                ("X-Oss-Date", "20240506T070809Z"),
                ("x-oss-meta-a", " 1 "),
                ("X-OSS-META-A", "2"),
                ("Host", "b.example"),
                ("Range", "bytes=0-1"),
                ("User-Agent", "x"),
            ],
            &["HOST", "x-oss-meta-a", "absent", "range", "host"],
        );
        let lines: Vec<&str> = sig.canonical_request.split('\n').collect();
        assert_eq!(lines[2], "a%20b=c%2Fd&uploads&z");
        assert_eq!(
            &lines[3..8],
            [
                "host:b.example",
                "range:bytes=0-1",
                "x-oss-date:20240506T070809Z",
                "x-oss-meta-a:1,2",
                ""
            ]
        );
        assert_eq!(sig.additional_headers, "host;range");
        assert_eq!(lines[8], "host;range");
        assert_eq!(lines[9], "UNSIGNED-PAYLOAD", "no x-oss-content-sha256 sent");
        assert!(sig
            .authorization("AK")
            .contains(",AdditionalHeaders=host;range,Signature="));
    }

    #[test]
    fn debug_hides_the_token_and_the_signature() {
        let sig = sign(&[("x-oss-security-token", "TOKEN-DO-NOT-LEAK")], &[]);
        assert!(sig.canonical_request.contains("TOKEN-DO-NOT-LEAK"));
        let shown = format!("{sig:?}");
        assert!(!shown.contains("TOKEN-DO-NOT-LEAK"), "{shown}");
        assert!(!shown.contains(&sig.signature), "{shown}");
        assert!(shown.contains("x-oss-security-token:<redacted>"), "{shown}");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let none: [(&str, &str); 0] = [];
        for date in ["", "2024", "日本語日本語日本語"] {
            let sig = oss_v4("GET", None, "", &[], &none, &[], "", date, "");
            assert_eq!(sig.signature.len(), 64);
        }
        let sig = oss_v4("GET", None, "", &[], &none, &[], "r", "20240506T0", "s");
        assert!(sig
            .canonical_request
            .starts_with("GET\n/\n\n\n\nUNSIGNED-PAYLOAD"));
    }
}
