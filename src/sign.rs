//! Alibaba Cloud RPC signature 1.0 (HMAC-SHA1), as a pure function.
//!
//! Kept free of I/O and clocks so it can be checked byte for byte against the
//! vectors the official SDKs produce (`tests/data/rpc_v1_signature.json`).

mod acs3;
pub use acs3::{acs3_hmac_sha256, sha256_hex, Acs3Signature, ACS3_ALGORITHM};
mod oss_v4;
pub use oss_v4::{oss_v4, OssV4Signature, OSS_V4_ALGORITHM};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The three values RPC signature 1.0 derives from a request.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RpcV1Signature {
    /// The sorted, percent-encoded `k=v&k=v` query (without `Signature`).
    pub canonical_query: String,
    /// `METHOD&%2F&` followed by the percent-encoded canonical query.
    pub string_to_sign: String,
    /// base64(HMAC-SHA1(secret + "&", string_to_sign)).
    pub signature: String,
}

impl std::fmt::Debug for RpcV1Signature {
    // The signature is a credential for one request, and a security token
    // is a secret: keep both out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::response::redact_security_token as redact;
        f.debug_struct("RpcV1Signature")
            .field("canonical_query", &redact(&self.canonical_query))
            .field("string_to_sign", &redact(&self.string_to_sign))
            .field("signature", &"<redacted>")
            .finish()
    }
}

impl RpcV1Signature {
    /// The full query string to send: the canonical query plus `&Signature=...`.
    pub fn signed_query(&self) -> String {
        let mut out = String::with_capacity(self.canonical_query.len() + 40);
        out.push_str(&self.canonical_query);
        out.push_str("&Signature=");
        percent_encode_into(&mut out, &self.signature);
        out
    }
}

/// Signs `params` with RPC signature 1.0.
///
/// `method` is the HTTP method (`GET` or `POST`); `params` are every request
/// parameter except `Signature`, in any order (they are sorted by key, byte
/// order); `secret` is the AccessKey secret (the HMAC key is `secret + "&"`).
///
/// ```
/// let sig = ens_upload::sign::rpc_v1(
///     "GET",
///     &[("Action", "DescribeRegions"), ("AccessKeyId", "testid")],
///     "testsecret",
/// );
/// assert_eq!(sig.canonical_query, "AccessKeyId=testid&Action=DescribeRegions");
/// assert!(sig.string_to_sign.starts_with("GET&%2F&AccessKeyId%3Dtestid"));
/// ```
pub fn rpc_v1<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    params: &[(K, V)],
    secret: &str,
) -> RpcV1Signature {
    RpcSigner::new(secret).sign(method, params)
}

/// Signs RPC 1.0 requests with one secret. The HMAC key schedule (the
/// `secret + "&"` key hashed into its inner and outer pads) is computed
/// once and reused for every request of a client.
#[derive(Clone)]
pub(crate) struct RpcSigner {
    mac: Hmac<Sha1>,
}

impl RpcSigner {
    pub(crate) fn new(secret: &str) -> RpcSigner {
        let mut key = Vec::with_capacity(secret.len() + 1);
        key.extend_from_slice(secret.as_bytes());
        key.push(b'&');
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = Hmac::<Sha1>::new_from_slice(&key).expect("HMAC takes any key");
        RpcSigner { mac }
    }

    pub(crate) fn sign<K: AsRef<str>, V: AsRef<str>>(
        &self,
        method: &str,
        params: &[(K, V)],
    ) -> RpcV1Signature {
        let mut query = Vec::new();
        let signed = self.sign_into(method, params, &mut query);
        // Percent-encoding writes only ASCII, and the method came from a &str.
        RpcV1Signature {
            canonical_query: String::from_utf8(query).expect("percent-encoded text is ASCII"),
            string_to_sign: String::from_utf8(signed.string_to_sign).expect("ASCII only"),
            signature: signed.signature,
        }
    }

    /// Signs, appending the canonical query to `query` (the request URL
    /// being built, so the query is written once).
    pub(crate) fn sign_into<K: AsRef<str>, V: AsRef<str>>(
        &self,
        method: &str,
        params: &[(K, V)],
        query: &mut Vec<u8>,
    ) -> SignedBytes {
        let mut sorted: Vec<(&[u8], &[u8])> = params
            .iter()
            .map(|(k, v)| (k.as_ref().as_bytes(), v.as_ref().as_bytes()))
            .collect();
        // Stable, so equal keys keep the caller's order.
        sorted.sort_by(|a, b| a.0.cmp(b.0));

        let raw_len: usize = sorted.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        // One pass writes the canonical query and, beside it, its own
        // percent-encoding for the string to sign: an unreserved byte is the
        // same in both, `%XX` in the query is `%25XX` there, and the `=` and
        // `&` separators are `%3D` and `%26`.
        query.reserve(raw_len + raw_len / 2);
        let mut to_sign = Vec::with_capacity(method.len() + 5 + raw_len * 2);
        to_sign.extend_from_slice(method.as_bytes());
        to_sign.extend_from_slice(b"&%2F&");
        for (i, (k, v)) in sorted.iter().enumerate() {
            if i > 0 {
                query.push(b'&');
                to_sign.extend_from_slice(b"%26");
            }
            encode_twice(query, &mut to_sign, k);
            query.push(b'=');
            to_sign.extend_from_slice(b"%3D");
            encode_twice(query, &mut to_sign, v);
        }

        let mut mac = self.mac.clone();
        mac.update(&to_sign);
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        SignedBytes {
            string_to_sign: to_sign,
            signature,
        }
    }
}

/// What [`RpcSigner::sign_into`] gives besides the query it wrote.
pub(crate) struct SignedBytes {
    /// ASCII; turned into text only when an error needs it.
    pub(crate) string_to_sign: Vec<u8>,
    pub(crate) signature: String,
}

/// base64(HMAC-SHA1(key, data)).
fn hmac_sha1_base64(key: &[u8], data: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

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
            .field("string_to_sign", &redact_oss_token(&self.string_to_sign))
            .field("signature", &"<redacted>")
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
        .filter(|(k, _)| k.as_ref().len() > 6 && k.as_ref()[..6].eq_ignore_ascii_case("x-oss-"))
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

/// Hides the value of an `x-oss-security-token:` line.
pub(crate) fn redact_oss_token(s: &str) -> String {
    s.lines()
        .map(|line| {
            if line.starts_with("x-oss-security-token:") {
                "x-oss-security-token:<redacted>"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Percent-encodes `input` as signature 1.0 wants: every UTF-8 byte except
/// `A-Z a-z 0-9 - _ . ~` becomes `%XX` with uppercase hex.
///
/// ```
/// assert_eq!(ens_upload::sign::percent_encode("a b*c~"), "a%20b%2Ac~");
/// ```
pub fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len() * 3 / 2);
    percent_encode_into(&mut out, input);
    out
}

/// Appends the percent-encoding of `input` to `out` (see [`percent_encode`]).
pub(crate) fn percent_encode_into(out: &mut String, input: &str) {
    let mut buf = Vec::with_capacity(input.len() * 3);
    encode_bytes(&mut buf, input.as_bytes());
    out.push_str(std::str::from_utf8(&buf).expect("percent-encoded text is ASCII"));
}

/// Which bytes stay as they are: `A-Z a-z 0-9 - _ . ~`.
const UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' || c == b'~';
        b += 1;
    }
    t
};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends the percent-encoding of `input` to `out` (ASCII only).
fn encode_bytes(out: &mut Vec<u8>, input: &[u8]) {
    let mut rest = input;
    while !rest.is_empty() {
        // Copy the run of unreserved bytes in one go.
        let run = rest
            .iter()
            .position(|&b| !UNRESERVED[usize::from(b)])
            .unwrap_or(rest.len());
        out.extend_from_slice(&rest[..run]);
        let Some(&b) = rest.get(run) else { break };
        out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
        rest = &rest[run + 1..];
    }
}

/// Appends `input` percent-encoded to `once`, and encoded twice to `twice`.
fn encode_twice(once: &mut Vec<u8>, twice: &mut Vec<u8>, input: &[u8]) {
    let mut rest = input;
    while !rest.is_empty() {
        let run = rest
            .iter()
            .position(|&b| !UNRESERVED[usize::from(b)])
            .unwrap_or(rest.len());
        once.extend_from_slice(&rest[..run]);
        twice.extend_from_slice(&rest[..run]);
        let Some(&b) = rest.get(run) else { break };
        let (hi, lo) = (HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]);
        once.extend_from_slice(&[b'%', hi, lo]);
        twice.extend_from_slice(&[b'%', b'2', b'5', hi, lo]);
        rest = &rest[run + 1..];
    }
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`), as a server
/// reading a query or form body does. Invalid escapes are kept literally.
/// Returns `None` when the decoded bytes are not UTF-8.
pub fn percent_decode(input: &str, plus_is_space: bool) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).and_then(|&h| hex_val(h)),
                bytes.get(i + 2).and_then(|&l| hex_val(l)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The current UTC time as `YYYY-MM-DDThh:mm:ssZ`, the `Timestamp` format.
#[cfg(test)]
fn timestamp_now() -> String {
    format_timestamp(std::time::SystemTime::now())
}

/// Formats `t` as `YYYY-MM-DDThh:mm:ssZ` (UTC), the `Timestamp` format.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(1_704_164_645);
/// assert_eq!(ens_upload::sign::format_timestamp(t), "2024-01-02T03:04:05Z");
/// ```
pub fn format_timestamp(t: std::time::SystemTime) -> String {
    let unix = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    crate::clock::format_iso8601(unix)
}

/// A `SignatureNonce` that no other request of this process, or of any other
/// process, sends: 64 bits that differ per process (OS-seeded randomness
/// mixed with the process id, so a child `fork`ed from a process that has
/// already signed does not repeat its parent's nonces) followed by a
/// per-process counter passed through a bijection, so two nonces of one
/// process can never be equal.
pub(crate) fn new_nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let seed = *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(d.as_nanos());
        }
        h.finish()
    });
    // A forked child inherits the seed and the counter; its pid differs.
    let process = mix(seed ^ u64::from(std::process::id()));
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Odd multiplier and xor-shift are both invertible: distinct counts stay distinct.
    let mut x = count.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ process;
    x ^= x >> 31;
    let mut out = String::with_capacity(32);
    push_hex(&mut out, process);
    push_hex(&mut out, x);
    out
}

/// The splitmix64 finalizer: a bijection that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Appends `v` as 16 lowercase hex digits.
fn push_hex(out: &mut String, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(HEX[((v >> (shift * 4)) & 0xf) as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_unique_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2000).map(|_| new_nonce()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for h in handles {
            for n in h.join().unwrap() {
                assert_eq!(n.len(), 32);
                assert!(all.insert(n), "duplicate nonce");
            }
        }
    }

    #[test]
    fn timestamp_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_704_164_645);
        assert_eq!(format_timestamp(t), "2024-01-02T03:04:05Z");
        assert_eq!(timestamp_now().len(), 20);
    }

    #[test]
    fn percent_decoding_round_trips_and_tolerates_junk() {
        for s in ["a b", "bücket-测试", "*~%&=+/"] {
            assert_eq!(
                percent_decode(&percent_encode(s), false).as_deref(),
                Some(s)
            );
        }
        assert_eq!(percent_decode("a+b%2", true).as_deref(), Some("a b%2"));
        assert_eq!(percent_decode("%zz", false).as_deref(), Some("%zz"));
        assert_eq!(percent_decode("%ff", false), None);
    }
}
