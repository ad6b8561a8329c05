//! Arbitrary bytes as an HTTP answer: status, our string to sign and body go
//! through every public decoder. Besides "never panics", checks the
//! classification rules that hold for any input.
//!
//! Input layout: bytes 0-1 the status (little endian; below 0x8000 it is
//! folded into 100..=599, above it is used as is), byte 2 the length `n` of
//! our string to sign, the next `n` bytes that string (lossy UTF-8), the
//! rest the body.
#![no_main]

use ens_upload::response::{
    decode_error_answer, decode_prepare_upload, decode_success, BODY_PREFIX_BYTES,
};
use ens_upload::{Error, SignatureDiagnosis};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let raw = u16::from_le_bytes([data[0], data[1]]);
    let status = if raw < 0x8000 { 100 + raw % 500 } else { raw };
    let n = usize::from(data[2]).min(data.len() - 3);
    let ours = String::from_utf8_lossy(&data[3..3 + n]).into_owned();
    let body = &data[3 + n..];
    let prefix = String::from_utf8_lossy(&body[..body.len().min(BODY_PREFIX_BYTES)]);
    let as_json = serde_json::from_slice::<serde_json::Value>(body).ok();

    // decode_success::<Value> accepts exactly the bodies serde_json accepts.
    match decode_success::<serde_json::Value>(status, body) {
        Ok(v) => assert_eq!(Some(&v), as_json.as_ref()),
        Err(e) => {
            assert!(as_json.is_none(), "valid JSON refused: {e}");
            check_decode(&e, status, &prefix);
        }
    }

    match decode_prepare_upload(status, body) {
        Ok(r) => {
            assert!((200..300).contains(&status));
            // Whatever the shape (object or 3-array), the fields came from
            // the JSON. (serde_json skips unknown fields without checking
            // their strings, so a body with invalid UTF-8 or a lone
            // surrogate in an unknown field decodes although it is not a
            // valid JSON document; then there is nothing to compare with.)
            if let Some(v) = &as_json {
                let field = |name: &str, idx: usize| match v {
                    serde_json::Value::Object(m) => m.get(name).cloned(),
                    serde_json::Value::Array(a) => a.get(idx).cloned(),
                    _ => None,
                };
                assert_eq!(field("RequestId", 0), Some(r.request_id.clone().into()));
                assert_eq!(field("BucketName", 1), Some(r.bucket_name.clone().into()));
                assert_eq!(field("Endpoint", 2), Some(r.endpoint.clone().into()));
            }
        }
        Err(Error::Redirect {
            status: s,
            location,
            ..
        }) => {
            assert!((300..400).contains(&status));
            assert_eq!((s, location), (status, None));
        }
        Err(e @ Error::Decode { .. }) => {
            assert!(!(300..400).contains(&status));
            check_decode(&e, status, &prefix);
        }
        Err(Error::Api(api)) => {
            assert!(!(200..400).contains(&status));
            assert_eq!(api.http_status, status);
            assert!(!api.code.is_empty());
        }
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }

    let e = decode_error_answer(status, body, &ours);
    let _ = e.to_string();
    match &e {
        Error::Api(api) => {
            assert_eq!(api.http_status, status);
            assert!(!api.code.is_empty());
            // (See above for bodies that are not valid JSON documents.)
            if let Some(code) = as_json.as_ref().and_then(|v| v.get("Code")) {
                assert_eq!(code.as_str(), Some(api.code.as_str()));
            }
            assert_redacted(&api.message);
            match (
                &api.signature_diagnosis,
                api.code == "SignatureDoesNotMatch",
            ) {
                (None, false) => {}
                (Some(SignatureDiagnosis::WrongSecret), true) => {}
                (Some(SignatureDiagnosis::ServerStringUnknown), true) => {}
                (Some(SignatureDiagnosis::CanonicalizationDiffers { client, server }), true) => {
                    // (`server` quoted `&%2F&`, but redacting a token can
                    // take it out again.)
                    assert_redacted(client);
                    assert_redacted(server);
                }
                (d, is_sig) => panic!("diagnosis {d:?} for SignatureDoesNotMatch={is_sig}"),
            }
        }
        Error::Decode { .. } => check_decode(&e, status, &prefix),
        other => panic!("unexpected error kind: {other:?}"),
    }
});

fn check_decode(e: &Error, status: u16, prefix: &str) {
    let _ = e.to_string();
    match e {
        Error::Decode {
            status: s,
            body_prefix,
            ..
        } => {
            assert_eq!(*s, status);
            assert_eq!(body_prefix, prefix);
            assert!(body_prefix.chars().count() <= BODY_PREFIX_BYTES);
        }
        other => panic!("expected Error::Decode, got {other:?}"),
    }
}

/// Every `SecurityToken%3D` (string to sign) and `SecurityToken=` (query)
/// left in a message is followed by `<redacted>`.
fn assert_redacted(s: &str) {
    for key in ["SecurityToken%3D", "SecurityToken="] {
        for (i, _) in s.match_indices(key) {
            assert!(
                s[i + key.len()..].starts_with("<redacted>"),
                "unredacted security token in {s:?}"
            );
        }
    }
}
