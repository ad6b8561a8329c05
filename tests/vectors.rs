//! The signer reproduces every golden vector produced by the official SDKs.

use ens_upload::sign::rpc_v1;

#[test]
fn every_rpc_v1_vector_matches_byte_for_byte() {
    let text = include_str!("data/rpc_v1_signature.json");
    let vectors: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
    assert!(vectors.len() >= 10, "vector file looks truncated");
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let params: Vec<(String, String)> = v["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, val)| (k.clone(), val.as_str().unwrap().to_owned()))
            .collect();
        let sig = rpc_v1(
            v["method"].as_str().unwrap(),
            &params,
            v["access_key_secret"].as_str().unwrap(),
        );
        assert_eq!(
            sig.canonical_query,
            v["canonical_query"].as_str().unwrap(),
            "{name}: canonical query"
        );
        assert_eq!(
            sig.string_to_sign,
            v["string_to_sign"].as_str().unwrap(),
            "{name}: string to sign"
        );
        assert_eq!(
            sig.signature,
            v["signature"].as_str().unwrap(),
            "{name}: signature"
        );
    }
}

#[test]
fn parameter_order_does_not_matter() {
    let a = rpc_v1("POST", &[("b", "2"), ("a", "1"), ("C", "3")], "k");
    let b = rpc_v1("POST", &[("C", "3"), ("a", "1"), ("b", "2")], "k");
    assert_eq!(a, b);
    // Byte order: uppercase sorts before lowercase.
    assert_eq!(a.canonical_query, "C=3&a=1&b=2");
}

#[test]
fn signed_query_appends_the_encoded_signature() {
    let sig = rpc_v1("GET", &[("A", "1")], "secret");
    let q = sig.signed_query();
    assert!(q.starts_with("A=1&Signature="));
    assert!(
        !q["A=1&Signature=".len()..].contains(['+', '/', '=']),
        "{q}"
    );
}
