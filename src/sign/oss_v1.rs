//! OSS header signature V1 (HMAC-SHA1): what OSS accepted from every
//! account until 2025, and what the ENS edge storage endpoint still takes.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The sub-resources OSS signature V1 includes in the canonicalized
/// resource (any other query parameter is left out), sorted.
pub const OSS_SIGNED_SUBRESOURCES: &[&str] = &[
    "accessPoint",
    "accessPointPolicy",
    "acl",
    "append",
    "asyncFetch",
    "bucketArchiveDirectRead",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "httpsConfig",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "publicAccessBlock",
    "qos",
    "qosInfo",
    "qosRequester",
    "redundancyTransition",
    "referer",
    "regionList",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "requesterQosInfo",
    "resourceGroup",
    "resourcePool",
    "resourcePoolBuckets",
    "resourcePoolInfo",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-ac-forward-allow",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-access-point-name",
    "x-oss-async-process",
    "x-oss-process",
    "x-oss-redundancy-transition-taskid",
    "x-oss-request-payer",
    "x-oss-target-redundancy-type",
    "x-oss-traffic-limit",
    "x-oss-write-get-object-response",
];

/// OSS header signature V1: what is signed, and the signature.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OssV1Signature {
    /// `VERB\nContent-MD5\nContent-Type\nDate\n` + canonicalized `x-oss-`
    /// headers + canonicalized resource.
    pub string_to_sign: String,
    /// base64(HMAC-SHA1(secret, string_to_sign)).
    pub signature: String,
}

impl std::fmt::Debug for OssV1Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OssV1Signature")
            .field(
                "string_to_sign",
                &crate::redact::tokens(&self.string_to_sign),
            )
            .field("signature", &crate::redact::REDACTED)
            .finish()
    }
}

impl OssV1Signature {
    /// The `Authorization` header value: `OSS <AccessKeyId>:<signature>`.
    pub fn authorization(&self, access_key_id: &str) -> String {
        format!("OSS {access_key_id}:{}", self.signature)
    }
}

/// The canonicalized resource of OSS V1: `/bucket/key` (the key as is, not
/// encoded; `/` alone without a bucket, `/bucket/` without a key) followed
/// by the signed sub-resources of `query`, sorted, `?k=v&k` (a sub-resource
/// without a value, or with an empty one, has no `=`).
///
/// ```
/// use ens_upload::sign::oss_canonical_resource;
/// let r = oss_canonical_resource(
///     Some("b"),
///     "dir/a b.bin",
///     &[("uploadId", Some("U1")), ("partNumber", Some("3")), ("foo", Some("x"))],
/// );
/// assert_eq!(r, "/b/dir/a b.bin?partNumber=3&uploadId=U1");
/// assert_eq!(oss_canonical_resource(Some("b"), "k", &[("uploads", None)]), "/b/k?uploads");
/// ```
pub fn oss_canonical_resource(
    bucket: Option<&str>,
    key: &str,
    query: &[(&str, Option<&str>)],
) -> String {
    let mut out = String::with_capacity(2 + key.len() + bucket.map_or(0, str::len) + 32);
    out.push('/');
    if let Some(b) = bucket {
        out.push_str(b);
        out.push('/');
        out.push_str(key);
    }
    let mut subs: Vec<&(&str, Option<&str>)> = query
        .iter()
        .filter(|(k, _)| OSS_SIGNED_SUBRESOURCES.contains(k))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// Signs an OSS request with header signature V1.
///
/// `headers` may hold every request header: only the `x-oss-` ones (case
/// insensitive) are signed, lowercased, sorted and trimmed. `resource` is
/// the canonicalized resource ([`oss_canonical_resource`]).
pub fn oss_v1<K: AsRef<str>, V: AsRef<str>>(
    verb: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    headers: &[(K, V)],
    resource: &str,
    secret: &str,
) -> OssV1Signature {
    let mut oss: Vec<(String, &str)> = headers
        .iter()
        .filter(|(k, _)| is_oss_header(k.as_ref()))
        .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.as_ref().trim()))
        .collect();
    oss.sort_by(|a, b| a.0.cmp(&b.0));
    let mut string_to_sign = String::with_capacity(64 + resource.len());
    for part in [verb, content_md5, content_type, date] {
        string_to_sign.push_str(part);
        string_to_sign.push('\n');
    }
    for (k, v) in &oss {
        string_to_sign.push_str(k);
        string_to_sign.push(':');
        string_to_sign.push_str(v);
        string_to_sign.push('\n');
    }
    string_to_sign.push_str(resource);
    let signature = hmac_sha1_base64(secret.as_bytes(), &string_to_sign);
    OssV1Signature {
        string_to_sign,
        signature,
    }
}

/// Whether `name` is an `x-oss-` header (any case). Compares bytes, so a
/// name with a multi-byte character across byte 6 is simply not one.
pub(crate) fn is_oss_header(name: &str) -> bool {
    name.len() > 6 && name.as_bytes()[..6].eq_ignore_ascii_case(b"x-oss-")
}

/// base64(HMAC-SHA1(key, data)).
fn hmac_sha1_base64(key: &[u8], data: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_with_multibyte_characters_never_panic() {
        // 'é' is two bytes: byte 6 falls inside it.
        for name in [
            "x-oss\u{e9}a",
            "\u{e9}\u{e9}\u{e9}\u{e9}",
            "x-oss-\u{e9}",
            "X-OSS-Meta",
        ] {
            let sig = oss_v1("PUT", "", "", "d", &[(name, "v")], "/b/k", "s");
            assert!(sig.string_to_sign.starts_with("PUT\n"));
        }
        assert!(is_oss_header("X-Oss-Date"));
        assert!(!is_oss_header("x-oss\u{e9}a"));
        assert!(!is_oss_header("x-oss-"));
    }
}
