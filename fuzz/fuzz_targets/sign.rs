//! Arbitrary parameters, secret and method through RPC signature 1.0 and
//! the percent-encoding round trip, with the invariants that hold for any
//! input: the canonical query decodes back to the key-sorted parameters, the
//! string to sign decodes back to the canonical query, the signature is
//! base64 of 20 bytes, and the order of parameters with distinct keys does
//! not matter.
#![no_main]

use ens_upload::sign::{percent_decode, percent_encode, rpc_v1};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, String, Vec<(String, String)>, String)| {
    let (post, secret, params, junk) = input;
    let method = if post { "POST" } else { "GET" };

    for s in params
        .iter()
        .flat_map(|(k, v)| [k, v])
        .chain([&secret, &junk])
    {
        let enc = percent_encode(s);
        assert!(enc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
        assert_eq!(percent_decode(&enc, false).as_deref(), Some(s.as_str()));
        assert_eq!(percent_decode(&enc, true).as_deref(), Some(s.as_str()));
    }
    // Decoding junk never panics, and `+` as space is the same as `%20`.
    assert_eq!(
        percent_decode(&junk, true),
        percent_decode(&junk.replace('+', "%20"), false)
    );

    let sig = rpc_v1(method, &params, &secret);

    // The canonical query is the stable key-sorted parameters, encoded.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let decoded: Vec<(String, String)> = if sig.canonical_query.is_empty() {
        Vec::new()
    } else {
        sig.canonical_query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').expect("k=v");
                (
                    percent_decode(k, false).expect("utf-8 key"),
                    percent_decode(v, false).expect("utf-8 value"),
                )
            })
            .collect()
    };
    assert_eq!(decoded.len(), sorted.len());
    for (d, s) in decoded.iter().zip(&sorted) {
        assert_eq!(d, *s);
    }

    let prefix = format!("{method}&%2F&");
    let tail = sig
        .string_to_sign
        .strip_prefix(&prefix)
        .expect("METHOD&%2F& prefix");
    assert_eq!(
        percent_decode(tail, false).as_deref(),
        Some(sig.canonical_query.as_str())
    );

    assert_eq!(sig.signature.len(), 28);
    assert!(sig.signature.ends_with('='));
    assert_eq!(
        sig.signed_query(),
        format!(
            "{}&Signature={}",
            sig.canonical_query,
            percent_encode(&sig.signature)
        )
    );

    // With distinct keys, the order given does not matter.
    let mut keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() == params.len() {
        let reversed: Vec<(String, String)> = params.iter().rev().cloned().collect();
        assert!(rpc_v1(method, &reversed, &secret) == sig);
    }
});
