//! Alibaba Cloud signature V3 (`ACS3-HMAC-SHA256`), as a pure function.
//!
//! The client signs with RPC signature 1.0; this is what the current
//! official SDKs send by default. The emulator verifies it with this
//! function so those SDKs work against it unchanged, and
//! `tests/data/acs3_hmac_sha256.json` (made by an official SDK) checks it
//! byte for byte.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::percent_encode;

/// The name of the algorithm, first in `Authorization` and the string to sign.
pub const ACS3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// What signature V3 derives from a request.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Acs3Signature {
    /// `METHOD\nPATH\nQUERY\nHEADERS\n\nSIGNED_HEADERS\nHASHED_PAYLOAD`.
    pub canonical_request: String,
    /// `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request.
    pub string_to_sign: String,
    /// The signed header names, lowercase, sorted, joined by `;`.
    pub signed_headers: String,
    /// Hex HMAC-SHA256 of the string to sign, keyed with the secret.
    pub signature: String,
}

impl std::fmt::Debug for Acs3Signature {
    // A security token may be among the signed headers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acs3Signature")
            .field(
                "canonical_request",
                &crate::redact::tokens(&self.canonical_request),
            )
            .field("string_to_sign", &self.string_to_sign)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &crate::redact::REDACTED)
            .finish()
    }
}

impl Acs3Signature {
    /// The `Authorization` header value.
    pub fn authorization(&self, access_key_id: &str) -> String {
        format!(
            "{ACS3_ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={}",
            self.signed_headers, self.signature
        )
    }
}

/// Signs a request with signature V3 (`ACS3-HMAC-SHA256`).
///
/// `pathname` is the request path as sent (`/` for RPC actions); `query`
/// holds the decoded query parameters (encoded here, keys sorted); every
/// header in `headers` is signed (names are lowercased and sorted, values
/// trimmed), so pass exactly the ones to sign, usually `host`, `content-type`
/// and the `x-acs-*` ones; `hashed_payload` is the hex SHA-256 of the body
/// ([`sha256_hex`]), the same value as the `x-acs-content-sha256` header.
///
/// ```
/// use ens_upload::sign::{acs3_hmac_sha256, sha256_hex};
/// let empty = sha256_hex(b"");
/// let sig = acs3_hmac_sha256(
///     "POST",
///     "/",
///     &[("BucketName", "test")],
///     &[("host", "ens.aliyuncs.com"), ("x-acs-action", "PrepareUpload")],
///     &empty,
///     "secret",
/// );
/// assert!(sig.canonical_request.starts_with("POST\n/\nBucketName=test\nhost:ens.aliyuncs.com\n"));
/// assert_eq!(sig.signed_headers, "host;x-acs-action");
/// assert_eq!(sig.signature.len(), 64);
/// ```
pub fn acs3_hmac_sha256<K, V, HK, HV>(
    method: &str,
    pathname: &str,
    query: &[(K, V)],
    headers: &[(HK, HV)],
    hashed_payload: &str,
    secret: &str,
) -> Acs3Signature
where
    K: AsRef<str>,
    V: AsRef<str>,
    HK: AsRef<str>,
    HV: AsRef<str>,
{
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (percent_encode(k.as_ref()), percent_encode(v.as_ref())))
        .collect();
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");

    let mut signed: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.as_ref().trim()))
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = signed
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");

    let canonical_request = format!(
        "{method}\n{pathname}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{hashed_payload}"
    );
    let string_to_sign = format!(
        "{ACS3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    Acs3Signature {
        canonical_request,
        string_to_sign,
        signed_headers,
        signature: super::encode::hex(&mac.finalize().into_bytes()),
    }
}

/// Lowercase hex SHA-256 of `data` (`x-acs-content-sha256`).
pub fn sha256_hex(data: &[u8]) -> String {
    super::encode::hex(&Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_inputs() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_hides_the_token_and_the_signature() {
        let sig = acs3_hmac_sha256(
            "POST",
            "/",
            &[("A", "b")],
            &[("x-acs-security-token", "TOKEN-DO-NOT-LEAK")],
            &sha256_hex(b""),
            "secret",
        );
        assert!(sig.canonical_request.contains("TOKEN-DO-NOT-LEAK"));
        let shown = format!("{sig:?}");
        assert!(!shown.contains("TOKEN-DO-NOT-LEAK"), "{shown}");
        assert!(!shown.contains(&sig.signature), "{shown}");
    }
}
