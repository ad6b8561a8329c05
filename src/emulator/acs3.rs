//! Signature V3 (`ACS3-HMAC-SHA256`) on the emulator's RPC side: what the
//! current official SDKs send by default. The facts that RPC 1.0 puts in
//! parameters come in `x-acs-*` headers here, and the `Authorization`
//! header names the signed headers.

use super::http::HttpRequest;
use super::rpc::{fail, parse_pairs, ApiFailure, Signed};
use crate::sign::{self, ACS3_ALGORITHM};

/// The facts of a signature V3 request, from its headers.
pub(super) fn signed<'a>(
    req: &'a HttpRequest,
    path: &'a str,
    raw_query: &'a str,
    authorization: &'a str,
) -> Result<Signed<'a>, ApiFailure> {
    let incomplete = |why: &str| {
        fail(
            400,
            "IncompleteSignature",
            format!("The request signature does not conform to Aliyun standards: {why}."),
        )
    };
    let Some(fields) = authorization
        .strip_prefix(ACS3_ALGORITHM)
        .and_then(|rest| rest.strip_prefix(' '))
    else {
        return Err(fail(
            400,
            "InvalidSignatureMethod",
            "Specified signature method is not valid: Authorization is neither RPC 1.0 (in the query) nor ACS3-HMAC-SHA256.",
        ));
    };
    let field = |name: &str| {
        fields
            .split(',')
            .filter_map(|f| f.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let (Some(key_id), Some(signed_headers), Some(signature)) = (
        field("Credential"),
        field("SignedHeaders"),
        field("Signature"),
    ) else {
        return Err(incomplete(
            "Authorization needs Credential, SignedHeaders and Signature",
        ));
    };

    let header = |name: &str| req.header(name).filter(|v| !v.is_empty());
    for (name, code) in [
        ("x-acs-action", "MissingAction"),
        ("x-acs-version", "MissingVersion"),
        ("x-acs-date", "MissingTimestamp"),
        ("x-acs-signature-nonce", "MissingSignatureNonce"),
    ] {
        if header(name).is_none() {
            return Err(fail(
                400,
                code,
                format!("{name} is mandatory for this action."),
            ));
        }
    }
    // The body's hash is signed in place of the body: it must be the body's.
    let content_sha256 = header("x-acs-content-sha256")
        .ok_or_else(|| incomplete("x-acs-content-sha256 is missing"))?;
    if content_sha256 != sign::sha256_hex(&req.body) {
        return Err(incomplete("x-acs-content-sha256 is not the body's SHA-256"));
    }

    // Every signed header must be there, and every x-acs-* header signed.
    let names: Vec<&str> = signed_headers.split(';').collect();
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(names.len());
    for name in &names {
        let value = req
            .header(name)
            .ok_or_else(|| incomplete(&format!("signed header {name} is missing")))?;
        headers.push((name, value));
    }
    if let Some((unsigned, _)) = req
        .headers
        .iter()
        .find(|(k, _)| k.starts_with("x-acs-") && !names.contains(&k.as_str()))
    {
        return Err(incomplete(&format!("header {unsigned} is not signed")));
    }
    let query = parse_pairs(raw_query).unwrap_or_default();
    let method = req.method.as_str();

    Ok(Signed {
        action: header("x-acs-action").unwrap_or_default(),
        version: header("x-acs-version").unwrap_or_default(),
        access_key_id: key_id,
        security_token: header("x-acs-security-token"),
        nonce: header("x-acs-signature-nonce").unwrap_or_default(),
        timestamp: header("x-acs-date").unwrap_or_default(),
        signature,
        expected: Box::new(move |secret| {
            let sig =
                sign::acs3_hmac_sha256(method, path, &query, &headers, content_sha256, secret);
            (sig.signature, sig.string_to_sign)
        }),
    })
}
