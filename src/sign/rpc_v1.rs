//! RPC signature 1.0 (HMAC-SHA1): what ENS 2017-11-10 and STS accept, and
//! what the client signs every call with.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::encode::{encode_twice, percent_encode_into};

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
        use crate::redact::tokens as redact;
        f.debug_struct("RpcV1Signature")
            .field("canonical_query", &redact(&self.canonical_query))
            .field("string_to_sign", &redact(&self.string_to_sign))
            .field("signature", &crate::redact::REDACTED)
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
