//! Property tests for the pure parts of the crate: percent-encoding, RPC
//! signature 1.0, response decoding, credential-file parsing and request
//! validation; and, end to end, uploads against a server answering
//! arbitrary headers and bodies (section 6).
//!
//! Every expected value is computed here independently of `src/` (the
//! signer is checked against a SHA-1, HMAC and base64 written below, which
//! are themselves pinned to RFC vectors and to the official SDK vectors in
//! `tests/data/rpc_v1_signature.json`).
//!
//! 256 cases per property by default; `PROPTEST_CASES=10000 cargo test
//! --test properties` for a longer run. The properties that start an
//! emulator run a quarter as many cases, the one that uploads against
//! scripted answers an eighth.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

use ens_upload::emulator::Emulator;
use ens_upload::response::{
    decode_error_answer, decode_prepare_upload, decode_success, BODY_PREFIX_BYTES,
};
use ens_upload::sign::{percent_decode, percent_encode, rpc_v1};
use ens_upload::{
    validate_bucket_name, validate_client_ip, Client, Credentials, Error, PrepareUploadRequest,
    SignatureDiagnosis, MAX_BUCKET_NAME_LEN,
};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------
// Independent reference implementations.
// ---------------------------------------------------------------------------

const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";

/// Percent-encoding through a 256-entry lookup table.
fn ref_encode(s: &str) -> String {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..=255u8)
            .map(|b| {
                if UNRESERVED.contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    });
    s.bytes().map(|b| table[usize::from(b)].as_str()).collect()
}

/// Percent-decoding by slice patterns: `%` and two hex digits is a byte,
/// anything else (a lone `%` included) is kept; `+` is a space on request.
fn ref_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let mut out = Vec::new();
    let mut rest = s.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        match (first, tail) {
            (b'%', [h, l, more @ ..]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let digits = [*h, *l];
                let text = std::str::from_utf8(&digits).expect("ASCII");
                out.push(u8::from_str_radix(text, 16).expect("two hex digits"));
                rest = more;
            }
            (b'+', _) if plus_is_space => {
                out.push(b' ');
                rest = tail;
            }
            _ => {
                out.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// SHA-1 (FIPS 180-4), straight from the specification.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (slot, word) in w.iter_mut().zip(block.chunks_exact(4)) {
            *slot = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for t in 16..80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (t, wt) in w.iter().enumerate() {
            let (f, k) = match t {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wt);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// HMAC (RFC 2104) over [`sha1`].
fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = if key.len() > 64 {
        sha1(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(sha1(&inner)).collect();
    sha1(&outer)
}

/// Standard base64 with padding (RFC 4648 section 4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RPC signature 1.0 from the specification: (canonical query, string to
/// sign, signature).
fn ref_sign(method: &str, params: &[(String, String)], secret: &str) -> (String, String, String) {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", ref_encode(k), ref_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let string_to_sign = format!("{method}&{}&{}", ref_encode("/"), ref_encode(&canonical));
    let key = format!("{secret}&");
    let signature = base64(&hmac_sha1(key.as_bytes(), string_to_sign.as_bytes()));
    (canonical, string_to_sign, signature)
}

/// Unicode category Cc, written out: what `char::is_control` means.
fn is_cc(c: char) -> bool {
    matches!(u32::from(c), 0x00..=0x1F | 0x7F..=0x9F)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn reference_sha1_hmac_base64_match_the_rfc_vectors() {
    assert_eq!(
        hex(&sha1(b"abc")),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        hex(&sha1(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    );
    // RFC 2202, test cases 2 and 6 (a key longer than the block).
    assert_eq!(
        hex(&hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    );
    assert_eq!(
        hex(&hmac_sha1(
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "aa4ae5e15272d00e95705637ce8a3b55ed402112"
    );
    // RFC 4648 section 10.
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}

#[test]
fn reference_signer_matches_the_sdk_vectors() {
    let vectors: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("data/rpc_v1_signature.json")).unwrap();
    assert!(!vectors.is_empty());
    for v in &vectors {
        let params: Vec<(String, String)> = v["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let (canonical, sts, sig) = ref_sign(
            v["method"].as_str().unwrap(),
            &params,
            v["access_key_secret"].as_str().unwrap(),
        );
        assert_eq!(canonical, v["canonical_query"], "{}", v["name"]);
        assert_eq!(sts, v["string_to_sign"], "{}", v["name"]);
        assert_eq!(sig, v["signature"], "{}", v["name"]);
    }
}

// ---------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------

/// Mostly ASCII (reserved characters included), some of anything.
fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range(' ', '~'),
        1 => prop::char::range('\0', '\u{7f}'),
        1 => prop::sample::select(vec![
            'é', 'ß', '中', '测', '😀', '\u{a0}', '\u{85}', '\u{feff}', '\u{10ffff}',
        ]),
        2 => any::<char>(),
    ]
}

fn arb_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(arb_char(), 0..=max).prop_map(String::from_iter)
}

/// Strings rich in `%`, `+` and hex digits, to exercise the decoder.
fn arb_escapey() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => prop::sample::select(vec![
            '%', '%', '+', '0', '2', '9', 'a', 'F', 'f', 'g', 'G', 'e', '8', 'c', '3',
        ]),
        1 => arb_char(),
    ];
    prop::collection::vec(c, 0..40).prop_map(String::from_iter)
}

/// Distinct keys (empty included), values (often empty), in shuffled order.
fn arb_params(max: usize) -> impl Strategy<Value = Vec<(String, String)>> {
    let value = prop_oneof![1 => Just(String::new()), 4 => arb_string(24)];
    prop::collection::btree_map(arb_string(12), value, 0..=max)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
}

fn arb_method() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["GET", "POST"])
}

// ---------------------------------------------------------------------------
// 1. Percent-encoding.
// ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn percent_encode_matches_the_reference(s in arb_string(64)) {
        prop_assert_eq!(percent_encode(&s), ref_encode(&s));
    }

    #[test]
    fn percent_encode_output_is_unreserved_or_uppercase_escapes(s in arb_string(64)) {
        let enc = percent_encode(&s);
        let b = enc.as_bytes();
        let mut i = 0;
        let mut decoded_len = 0;
        while i < b.len() {
            if b[i] == b'%' {
                prop_assert!(i + 2 < b.len(), "truncated escape in {}", enc);
                let (h, l) = (b[i + 1], b[i + 2]);
                prop_assert!(
                    matches!(h, b'0'..=b'9' | b'A'..=b'F') && matches!(l, b'0'..=b'9' | b'A'..=b'F'),
                    "escape not uppercase hex in {}", enc
                );
                let byte = u8::from_str_radix(&enc[i + 1..i + 3], 16).unwrap();
                prop_assert!(!UNRESERVED.contains(&byte), "unreserved byte {byte:#x} escaped");
                i += 3;
            } else {
                prop_assert!(UNRESERVED.contains(&b[i]), "reserved byte {:#x} left bare", b[i]);
                i += 1;
            }
            decoded_len += 1;
        }
        prop_assert_eq!(decoded_len, s.len());
    }

    #[test]
    fn percent_decode_inverts_percent_encode(s in arb_string(64)) {
        let enc = percent_encode(&s);
        let (plain, plus) = (percent_decode(&enc, false), percent_decode(&enc, true));
        prop_assert_eq!(plain.as_ref(), Some(&s));
        prop_assert_eq!(plus.as_ref(), Some(&s));
    }

    #[test]
    fn percent_decode_matches_the_reference(s in arb_escapey(), plus in any::<bool>()) {
        prop_assert_eq!(percent_decode(&s, plus), ref_decode(&s, plus));
    }

    #[test]
    fn plus_as_space_is_the_same_as_percent_20(s in arb_escapey()) {
        prop_assert_eq!(percent_decode(&s, true), percent_decode(&s.replace('+', "%20"), false));
    }

    /// Any bytes, escaped in either case: UTF-8 comes back, anything else is None.
    #[test]
    fn percent_decode_of_escaped_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
        lower in any::<bool>(),
    ) {
        let escaped: String = bytes
            .iter()
            .map(|b| if lower { format!("%{b:02x}") } else { format!("%{b:02X}") })
            .collect();
        prop_assert_eq!(percent_decode(&escaped, false), String::from_utf8(bytes).ok());
    }
}

// ---------------------------------------------------------------------------
// 2. RPC signature 1.0.
// ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn rpc_v1_matches_the_reference(
        method in arb_method(),
        params in arb_params(10),
        secret in arb_string(40),
    ) {
        let sig = rpc_v1(method, &params, &secret);
        let (canonical, sts, signature) = ref_sign(method, &params, &secret);
        prop_assert_eq!(&sig.canonical_query, &canonical);
        prop_assert_eq!(&sig.string_to_sign, &sts);
        prop_assert_eq!(&sig.signature, &signature);
        prop_assert_eq!(
            sig.signed_query(),
            format!("{canonical}&Signature={}", ref_encode(&signature))
        );
        // The signature never reaches Debug.
        let debug = format!("{sig:?}");
        prop_assert!(!debug.contains(&signature), "{}", debug);
    }

    #[test]
    fn rpc_v1_ignores_parameter_order(
        method in arb_method(),
        (params, shuffled) in arb_params(10).prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        secret in arb_string(20),
    ) {
        prop_assert!(rpc_v1(method, &params, &secret) == rpc_v1(method, &shuffled, &secret));
    }

    #[test]
    fn changing_one_value_changes_the_signature(
        method in arb_method(),
        params in arb_params(10).prop_filter("need a parameter", |p| !p.is_empty()),
        which in any::<Index>(),
        new_value in arb_string(24),
        secret in arb_string(20),
    ) {
        let i = which.index(params.len());
        prop_assume!(params[i].1 != new_value);
        let mut changed = params.clone();
        changed[i].1 = new_value;
        let a = rpc_v1(method, &params, &secret);
        let b = rpc_v1(method, &changed, &secret);
        prop_assert_ne!(&a.canonical_query, &b.canonical_query);
        prop_assert_ne!(&a.signature, &b.signature);
    }

    #[test]
    fn changing_one_key_changes_the_signature(
        method in arb_method(),
        params in arb_params(10).prop_filter("need a parameter", |p| !p.is_empty()),
        which in any::<Index>(),
        new_key in arb_string(12),
        secret in arb_string(20),
    ) {
        let i = which.index(params.len());
        prop_assume!(params.iter().all(|(k, _)| *k != new_key));
        let mut changed = params.clone();
        changed[i].0 = new_key;
        prop_assert_ne!(
            rpc_v1(method, &params, &secret).signature,
            rpc_v1(method, &changed, &secret).signature
        );
    }

    #[test]
    fn the_secret_and_the_method_are_signed(
        params in arb_params(6),
        secret in arb_string(20),
        other_secret in arb_string(20),
    ) {
        prop_assume!(secret != other_secret);
        let get = rpc_v1("GET", &params, &secret);
        prop_assert_ne!(&get.signature, &rpc_v1("GET", &params, &other_secret).signature);
        let post = rpc_v1("POST", &params, &secret);
        prop_assert_eq!(&get.canonical_query, &post.canonical_query);
        prop_assert_ne!(&get.signature, &post.signature);
    }
}

// ---------------------------------------------------------------------------
// 3. Response decoding.
// ---------------------------------------------------------------------------

/// A JSON member as generated: absent, or a value of some type.
#[derive(Debug, Clone)]
enum Member {
    Absent,
    Null,
    Str(String),
    Num(i64),
    Bool(bool),
    Arr,
}

impl Member {
    fn json(&self) -> Option<serde_json::Value> {
        match self {
            Member::Absent => None,
            Member::Null => Some(serde_json::Value::Null),
            Member::Str(s) => Some(s.clone().into()),
            Member::Num(n) => Some((*n).into()),
            Member::Bool(b) => Some((*b).into()),
            Member::Arr => Some(serde_json::json!(["x"])),
        }
    }
    fn string(&self) -> Option<&str> {
        match self {
            Member::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Absent, null or a string: what an `Option<String>` field takes.
    fn optional_string_ok(&self) -> bool {
        matches!(self, Member::Absent | Member::Null | Member::Str(_))
    }
}

fn arb_member(strings: BoxedStrategy<String>) -> impl Strategy<Value = Member> {
    prop_oneof![
        2 => Just(Member::Absent),
        1 => Just(Member::Null),
        8 => strings.prop_map(Member::Str),
        1 => any::<i64>().prop_map(Member::Num),
        1 => any::<bool>().prop_map(Member::Bool),
        1 => Just(Member::Arr),
    ]
}

const KNOWN: [&str; 7] = [
    "RequestId",
    "BucketName",
    "Endpoint",
    "Code",
    "Message",
    "HostId",
    "Recommend",
];

/// The members of a generated body, in [`KNOWN`] order, plus extra members.
#[derive(Debug, Clone)]
struct Body {
    known: Vec<Member>,
    extra: BTreeMap<String, String>,
    pretty: bool,
}

impl Body {
    fn member(&self, name: &str) -> &Member {
        &self.known[KNOWN.iter().position(|k| *k == name).unwrap()]
    }
    fn bytes(&self) -> Vec<u8> {
        let mut map = serde_json::Map::new();
        for (name, m) in KNOWN.iter().zip(&self.known) {
            if let Some(v) = m.json() {
                map.insert((*name).to_owned(), v);
            }
        }
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone().into());
        }
        let v = serde_json::Value::Object(map);
        if self.pretty {
            serde_json::to_vec_pretty(&v).unwrap()
        } else {
            serde_json::to_vec(&v).unwrap()
        }
    }
}

fn arb_body() -> impl Strategy<Value = Body> {
    let code = prop_oneof![
        3 => arb_string(16),
        1 => Just(String::new()),
        1 => prop::sample::select(vec!["NoSuchBucket", "SignatureDoesNotMatch", "Throttling.User"])
            .prop_map(str::to_owned),
    ]
    .boxed();
    let plain = arb_string(40).boxed();
    let known = (
        arb_member(plain.clone()),
        arb_member(plain.clone()),
        arb_member(plain.clone()),
        arb_member(code),
        arb_member(plain.clone()),
        arb_member(plain.clone()),
        arb_member(plain),
    )
        .prop_map(|(a, b, c, d, e, f, g)| vec![a, b, c, d, e, f, g]);
    let extra = prop::collection::btree_map(
        arb_string(10).prop_filter("not a known member", |k| !KNOWN.contains(&k.as_str())),
        arb_string(20),
        0..4,
    );
    (known, extra, any::<bool>()).prop_map(|(known, extra, pretty)| Body {
        known,
        extra,
        pretty,
    })
}

fn arb_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => 200u16..=299,
        1 => 300u16..=399,
        4 => 400u16..=599,
        1 => 100u16..=199,
        1 => prop::sample::select(vec![200u16, 204, 299, 300, 302, 399, 400, 404, 500, 503]),
    ]
}

/// Checks `e` is the `Error::Decode` for this status and body.
fn check_decode(e: &Error, status: u16, body: &[u8]) -> Result<(), TestCaseError> {
    let _ = e.to_string();
    match e {
        Error::Decode {
            status: s,
            body_prefix,
            reason,
            ..
        } => {
            prop_assert_eq!(*s, status);
            prop_assert!(!reason.is_empty());
            let prefix = String::from_utf8_lossy(&body[..body.len().min(BODY_PREFIX_BYTES)]);
            prop_assert_eq!(body_prefix, &prefix);
            // At most 256 body bytes; as lossy UTF-8 that is at most 256
            // characters (but up to 3 * 256 bytes: see
            // `body_prefix_is_256_body_bytes_not_256_string_bytes`).
            prop_assert!(body_prefix.chars().count() <= BODY_PREFIX_BYTES);
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "expected Error::Decode, got {other:?}"
        ))),
    }
}

/// Bytes that are often JSON-like: arbitrary, or a generated body cut short
/// or with a byte changed.
fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..600),
        1 => (arb_body(), any::<Index>()).prop_map(|(b, i)| {
            let mut bytes = b.bytes();
            let cut = i.index(bytes.len() + 1);
            bytes.truncate(cut);
            bytes
        }),
        1 => (arb_body(), any::<Index>(), any::<u8>()).prop_map(|(b, i, x)| {
            let mut bytes = b.bytes();
            let at = i.index(bytes.len());
            bytes[at] = x;
            bytes
        }),
    ]
}

proptest! {
    /// Any bytes and any status in 100..=599: no panic, and the kind of the
    /// answer follows the status class.
    #[test]
    fn decoding_arbitrary_bytes_classifies_by_status(
        status in 100u16..=599,
        body in arb_bytes(),
        ours in arb_string(40),
    ) {
        match decode_prepare_upload(status, &body) {
            Ok(_) => prop_assert!((200..300).contains(&status)),
            Err(Error::Redirect { status: s, location, .. }) => {
                prop_assert!((300..400).contains(&status));
                prop_assert_eq!((s, location), (status, None));
            }
            Err(Error::Api(api)) => {
                prop_assert!(!(200..400).contains(&status));
                prop_assert_eq!(api.http_status, status);
                prop_assert!(!api.code.is_empty());
            }
            Err(e) => {
                prop_assert!(!(300..400).contains(&status));
                check_decode(&e, status, &body)?;
            }
        }
        match decode_error_answer(status, &body, &ours) {
            Error::Api(api) => {
                prop_assert_eq!(api.http_status, status);
                prop_assert!(!api.code.is_empty());
                prop_assert_eq!(
                    api.signature_diagnosis.is_some(),
                    api.code == "SignatureDoesNotMatch"
                );
            }
            e => check_decode(&e, status, &body)?,
        }
        let json = serde_json::from_slice::<serde_json::Value>(&body);
        match decode_success::<serde_json::Value>(status, &body) {
            Ok(v) => prop_assert_eq!(Some(v), json.ok()),
            Err(e) => {
                prop_assert!(json.is_err());
                check_decode(&e, status, &body)?;
            }
        }
    }

    /// Any u16 status at all (0, 1xx, 6xx and up): still no panic.
    #[test]
    fn decoding_never_panics_for_any_status(status in any::<u16>(), body in arb_bytes()) {
        let _ = decode_prepare_upload(status, &body).map_err(|e| e.to_string());
        let _ = decode_error_answer(status, &body, "").to_string();
        let _ = decode_success::<serde_json::Value>(status, &body).map_err(|e| e.to_string());
    }

    /// Generated JSON objects: the exact outcome.
    #[test]
    fn decoding_json_objects_follows_the_rules(status in arb_status(), body in arb_body()) {
        let bytes = body.bytes();
        let result = decode_prepare_upload(status, &bytes);
        match status {
            200..=299 => {
                let fields = (
                    body.member("RequestId").string(),
                    body.member("BucketName").string(),
                    body.member("Endpoint").string(),
                );
                match (fields, result) {
                    ((Some(r), Some(b), Some(e)), Ok(ok)) => {
                        prop_assert_eq!(ok.request_id.as_str(), r);
                        prop_assert_eq!(ok.bucket_name.as_str(), b);
                        prop_assert_eq!(ok.endpoint.as_str(), e);
                    }
                    ((Some(_), Some(_), Some(_)), Err(e)) => {
                        return Err(TestCaseError::fail(format!("refused: {e:?}")));
                    }
                    (_, Ok(ok)) => {
                        return Err(TestCaseError::fail(format!("accepted: {ok:?}")));
                    }
                    (_, Err(e)) => check_decode(&e, status, &bytes)?,
                }
            }
            300..=399 => match result {
                Err(Error::Redirect { status: s, location: None, .. }) => prop_assert_eq!(s, status),
                other => return Err(TestCaseError::fail(format!("expected a redirect: {other:?}"))),
            },
            _ => {
                let err = result.expect_err("non-2xx is an error");
                let code = body.member("Code").string().filter(|c| !c.is_empty());
                let optional_ok = ["Message", "RequestId", "HostId", "Recommend"]
                    .iter()
                    .all(|n| body.member(n).optional_string_ok());
                match (code, optional_ok, &err) {
                    (Some(code), true, Error::Api(api)) => {
                        prop_assert_eq!(api.http_status, status);
                        prop_assert_eq!(api.code.as_str(), code);
                        let or_empty = |n: &str| body.member(n).string().unwrap_or("").to_owned();
                        let message = or_empty("Message");
                        if !message.contains("SecurityToken") {
                            prop_assert_eq!(&api.message, &message);
                        }
                        prop_assert_eq!(&api.request_id, &or_empty("RequestId"));
                        prop_assert_eq!(&api.host_id, &or_empty("HostId"));
                        prop_assert_eq!(&api.recommend, &or_empty("Recommend"));
                        prop_assert_eq!(err.code(), Some(code));
                        prop_assert_eq!(err.http_status(), Some(status));
                        let rid = or_empty("RequestId");
                        prop_assert_eq!(err.request_id(), Some(rid.as_str()).filter(|r| !r.is_empty()));
                        if code == "SignatureDoesNotMatch" {
                            // decode_prepare_upload knows no string to sign of ours.
                            let expected = match message.rsplit_once(':') {
                                Some((_, s)) if s.contains("&%2F&") => "differs",
                                _ => "unknown",
                            };
                            let got = match &api.signature_diagnosis {
                                Some(SignatureDiagnosis::CanonicalizationDiffers { client, .. }) => {
                                    prop_assert_eq!(client.as_str(), "");
                                    "differs"
                                }
                                Some(SignatureDiagnosis::ServerStringUnknown) => "unknown",
                                other => return Err(TestCaseError::fail(format!("diagnosis {other:?}"))),
                            };
                            prop_assert_eq!(got, expected);
                        } else {
                            prop_assert!(api.signature_diagnosis.is_none());
                        }
                    }
                    (Some(_), true, other) => {
                        return Err(TestCaseError::fail(format!("expected Error::Api, got {other:?}")));
                    }
                    (_, _, e) => check_decode(e, status, &bytes)?,
                }
            }
        }
    }

    /// A `SignatureDoesNotMatch` quoting the server's string to sign is
    /// compared with ours.
    #[test]
    fn signature_diagnosis_compares_the_strings_to_sign(
        method in arb_method(),
        params in arb_params(8),
        secret in arb_string(10),
        junk in arb_string(30).prop_filter("no quoted string", |j| !j.contains("&%2F&")),
        which in any::<Index>(),
        new_value in arb_string(10),
        status in 400u16..=599,
    ) {
        let ours = rpc_v1(method, &params, &secret).string_to_sign;
        let body = |message: &str| {
            serde_json::to_vec(&serde_json::json!({
                "RequestId": "R", "HostId": "h", "Code": "SignatureDoesNotMatch", "Message": message,
            }))
            .unwrap()
        };
        let prefix = "Specified signature is not matched with our calculation. server string to sign is:";
        let diagnose = |message: &str| match decode_error_answer(status, &body(message), &ours) {
            Error::Api(api) => Ok(api.signature_diagnosis.clone()),
            other => Err(TestCaseError::fail(format!("expected Error::Api, got {other:?}"))),
        };

        // The same string: the secret is wrong.
        prop_assert_eq!(diagnose(&format!("{prefix}{ours}"))?, Some(SignatureDiagnosis::WrongSecret));
        // Whitespace around the quoted string does not matter.
        prop_assert_eq!(diagnose(&format!("{prefix}  {ours} "))?, Some(SignatureDiagnosis::WrongSecret));

        // Another string: both are reported.
        let mut changed = params.clone();
        if changed.is_empty() {
            changed.push(("X".into(), new_value));
        } else {
            let i = which.index(changed.len());
            changed[i].1.push_str(&new_value);
            changed[i].1.push('!');
        }
        let theirs = rpc_v1(method, &changed, &secret).string_to_sign;
        prop_assert_ne!(&theirs, &ours);
        prop_assert_eq!(
            diagnose(&format!("{prefix}{theirs}"))?,
            Some(SignatureDiagnosis::CanonicalizationDiffers {
                client: ours.clone(),
                server: theirs.clone(),
            })
        );

        // No string to sign after the last ':': unknown.
        prop_assert_eq!(
            diagnose(&format!("{prefix}{ours}:{junk}"))?,
            Some(SignatureDiagnosis::ServerStringUnknown)
        );
        prop_assert_eq!(diagnose(&junk.replace(':', ";"))?, Some(SignatureDiagnosis::ServerStringUnknown));
    }

    /// A security token quoted by the server (in a string to sign or in a
    /// query) never comes out of the error, whatever the token.
    #[test]
    fn security_tokens_in_error_messages_are_redacted(
        method in arb_method(),
        params in arb_params(6).prop_filter("no other key ending in SecurityToken", |p| {
            p.iter().all(|(k, _)| !k.ends_with("SecurityToken"))
        }),
        token in arb_string(30).prop_filter("non-empty", |t| !t.is_empty()),
        secret in arb_string(10),
        differs in any::<bool>(),
    ) {
        let mut with_token = params.clone();
        with_token.push(("SecurityToken".into(), token.clone()));
        let sig = rpc_v1(method, &with_token, &secret);
        let ours = if differs {
            rpc_v1(method, &params, &secret).string_to_sign
        } else {
            sig.string_to_sign.clone()
        };
        // In the string to sign the token is encoded twice, in the query once.
        let in_sts = format!("SecurityToken%3D{}", ref_encode(&ref_encode(&token)));
        let in_query = format!("SecurityToken={}", ref_encode(&token));
        prop_assert!(sig.string_to_sign.contains(&in_sts));
        prop_assert!(sig.signed_query().contains(&in_query));

        let message = format!("server string to sign is:{}", sig.string_to_sign);
        let body = serde_json::to_vec(&serde_json::json!({
            "Code": "SignatureDoesNotMatch", "Message": message, "RequestId": sig.signed_query(),
        }))
        .unwrap();
        let err = decode_error_answer(400, &body, &ours);
        let api = err.api().expect("Error::Api");
        prop_assert_eq!(
            &api.message,
            &message.replace(&in_sts, "SecurityToken%3D<redacted>")
        );
        match &api.signature_diagnosis {
            Some(SignatureDiagnosis::WrongSecret) => prop_assert!(!differs),
            Some(SignatureDiagnosis::CanonicalizationDiffers { client, server }) => {
                prop_assert!(differs);
                prop_assert_eq!(client, &ours);
                prop_assert_eq!(server, &sig.string_to_sign.replace(&in_sts, "SecurityToken%3D<redacted>"));
            }
            other => return Err(TestCaseError::fail(format!("diagnosis {other:?}"))),
        }
        for text in [format!("{err}"), format!("{err:?}"), format!("{sig:?}")] {
            prop_assert!(!text.contains(&in_sts), "token in {}", text);
        }
        // The Debug of the signature redacts the token in the query too.
        let debug = format!("{sig:?}");
        prop_assert!(!debug.contains(&in_query), "token in {}", debug);
    }
}

/// `body_prefix` keeps the first 256 *body bytes*; as lossy UTF-8 a byte
/// that is not UTF-8 becomes U+FFFD (3 bytes), so the string itself can be
/// up to 768 bytes long. (The field's doc says "at most 256 bytes".)
#[test]
fn body_prefix_is_256_body_bytes_not_256_string_bytes() {
    let body = vec![0xFFu8; 1000];
    let e = decode_error_answer(502, &body, "");
    let Error::Decode { body_prefix, .. } = e else {
        panic!("expected Error::Decode, got {e:?}");
    };
    assert_eq!(body_prefix.chars().count(), BODY_PREFIX_BYTES);
    assert_eq!(body_prefix.len(), 3 * BODY_PREFIX_BYTES);
    // A character cut at byte 256 becomes one U+FFFD.
    let mut body = vec![b'a'; 255];
    body.extend_from_slice("中".as_bytes());
    let Error::Decode { body_prefix, .. } = decode_error_answer(500, &body, "") else {
        panic!("expected Error::Decode");
    };
    assert!(body_prefix.ends_with('\u{FFFD}'));
}

// ---------------------------------------------------------------------------
// 4. Credentials files.
// ---------------------------------------------------------------------------

/// Text made of the pieces an ini or config.json parser cares about.
fn arb_ini_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "[",
            "]",
            "[default]",
            "[dev]",
            "=",
            " = ",
            "\n",
            "\r\n",
            "\r",
            "#",
            ";",
            "\"",
            " ",
            "\t",
            "type",
            "access_key",
            "sts",
            "ecs_ram_role",
            "enable",
            "false",
            "FALSE",
            "true",
            "access_key_id",
            "ACCESS_KEY_ID",
            "access_key_secret",
            "security_token",
            "{",
            "}",
            ":",
            ",",
            "\"current\"",
            "\"profiles\"",
            "\"name\"",
            "\"mode\"",
            "\"AK\"",
            "\"StsToken\"",
            "\"access_key_id\"",
            "\"access_key_secret\"",
            "\"sts_token\"",
            "[]",
            "\"default\"",
            "\"\"",
        ])
        .prop_map(str::to_owned),
        arb_string(6),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

fn arb_profile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["default", "dev", "sts", "", "[default]"]).prop_map(str::to_owned),
        1 => arb_string(6),
    ]
}

/// A value as the ini parser gives it back: non-empty, on one line; when
/// written unquoted, no surrounding whitespace and not itself in quotes.
#[derive(Debug, Clone)]
struct IniValue {
    value: String,
    quoted: bool,
}

impl IniValue {
    fn written(&self) -> String {
        if self.quoted {
            format!("\"{}\"", self.value)
        } else {
            self.value.clone()
        }
    }
}

fn arb_ini_value(chars: BoxedStrategy<char>) -> BoxedStrategy<IniValue> {
    (
        prop::collection::vec(chars, 1..24).prop_map(String::from_iter),
        any::<bool>(),
    )
        .prop_map(|(value, quoted)| IniValue { value, quoted })
        .prop_filter("unquoted values are trimmed and not in quotes", |v| {
            v.quoted
                || (v.value.trim() == v.value
                    && !(v.value.len() >= 2 && v.value.starts_with('"') && v.value.ends_with('"')))
        })
        .boxed()
}

/// A generated `credentials.ini` with one profile to read back.
#[derive(Debug, Clone)]
struct Ini {
    text: String,
    profile: String,
    id: String,
    secret: String,
    token: Option<String>,
}

/// `chars` are the characters of values; profile names are printable and
/// never padded with whitespace.
fn arb_ini(chars: BoxedStrategy<char>) -> impl Strategy<Value = Ini> {
    let name = prop::collection::vec(
        arb_char().prop_filter("name char", |c| !c.is_whitespace() && !is_cc(*c)),
        1..12,
    )
    .prop_map(String::from_iter);
    let other_names = prop::collection::vec(
        prop::sample::select(vec!["other", "dev2", "x y", "default2"]),
        0..3,
    );
    let value = arb_ini_value(chars);
    (
        name,
        (value.clone(), value.clone(), value),
        any::<bool>(),                           // sts?
        prop::sample::select(vec![0u8, 1, 2]),   // type line: none, lower, with spaces
        prop::collection::vec(any::<bool>(), 4), // uppercase keys?
        prop::sample::select(vec!["=", " = ", "\t=  ", "= "]),
        any::<bool>(), // CRLF?
        other_names,
        any::<bool>(), // enable = true line?
    )
        .prop_filter("an sts profile needs a type line", |t| !t.2 || t.3 != 0)
        .prop_map(
            |(profile, (id, secret, token), sts, type_line, upper, eq, crlf, others, enable)| {
                let key = |k: &str, up: bool| {
                    if up {
                        k.to_ascii_uppercase()
                    } else {
                        k.to_owned()
                    }
                };
                let mut lines = vec![
                    "# generated".to_owned(),
                    "; comment".to_owned(),
                    String::new(),
                ];
                for (i, other) in others.iter().enumerate() {
                    if *other == profile {
                        continue;
                    }
                    lines.push(format!("[{other}]"));
                    lines.push(format!("access_key_id{eq}other-{i}"));
                    lines.push(format!("access_key_secret{eq}other-secret-{i}"));
                }
                lines.push(format!("  [ {profile} ]  "));
                if enable {
                    lines.push(format!("enable{eq}true"));
                }
                match (type_line, sts) {
                    (0, _) => {}
                    (1, true) => lines.push(format!("{}{eq}sts", key("type", upper[0]))),
                    (1, false) => lines.push(format!("{}{eq}access_key", key("type", upper[0]))),
                    (_, true) => lines.push(format!("  {}{eq}\"sts\"  ", key("type", upper[0]))),
                    (_, false) => {
                        lines.push(format!("  {}{eq}\"access_key\"", key("type", upper[0])))
                    }
                }
                lines.push(format!(
                    "{}{eq}{}",
                    key("access_key_id", upper[1]),
                    id.written()
                ));
                lines.push(format!(
                    "{}{eq}{}",
                    key("access_key_secret", upper[2]),
                    secret.written()
                ));
                if sts {
                    lines.push(format!(
                        "{}{eq}{}",
                        key("security_token", upper[3]),
                        token.written()
                    ));
                }
                lines.push("[after]".to_owned());
                lines.push("access_key_id = after".to_owned());
                let nl = if crlf { "\r\n" } else { "\n" };
                Ini {
                    text: lines.join(nl) + nl,
                    profile,
                    id: id.value,
                    secret: secret.value,
                    token: sts.then_some(token.value),
                }
            },
        )
}

/// Any character but a newline (values round-trip with anything else).
fn ini_chars_any() -> BoxedStrategy<char> {
    arb_char().prop_filter("one line", |c| *c != '\n').boxed()
}

/// What the signer accepts: no control characters.
fn ini_chars_signable() -> BoxedStrategy<char> {
    arb_char().prop_filter("no control", |c| !is_cc(*c)).boxed()
}

proptest! {
    #[test]
    fn ini_parsing_never_panics(
        text in prop_oneof![arb_ini_like(), arb_string(300)],
        profile in arb_profile_name(),
    ) {
        match Credentials::from_ini_str(&text, &profile) {
            Ok(Some(c)) => {
                prop_assert!(!c.access_key_id().is_empty());
                prop_assert_eq!(c.source(), format!("credentials file <text> [{profile}]"));
            }
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn cli_config_parsing_never_panics(
        text in prop_oneof![arb_ini_like(), arb_string(300)],
        profile in prop::option::of(arb_profile_name()),
    ) {
        match Credentials::from_cli_config_str(&text, profile.as_deref()) {
            Ok(Some(c)) => {
                prop_assert!(!c.access_key_id().is_empty());
                prop_assert!(c.source().starts_with("<text> profile "));
            }
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn a_generated_ini_profile_reads_back(ini in arb_ini(ini_chars_any())) {
        let c = Credentials::from_ini_str(&ini.text, &ini.profile)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", ini.text)))?
            .ok_or_else(|| TestCaseError::fail(format!("profile not found\n{}", ini.text)))?;
        prop_assert_eq!(c.access_key_id(), ini.id.as_str());
        prop_assert_eq!(c.is_sts(), ini.token.is_some());
        prop_assert_eq!(c.source(), format!("credentials file <text> [{}]", ini.profile));
        // The secret never reaches Debug (checked when it cannot be there
        // for another reason: inside the id, the source or a field name).
        let debug = format!("{c:?}");
        let elsewhere = format!("{:?} {:?} {:?} Some None <redacted>", c.access_key_id(), c.source(), Credentials::access_key("", ""));
        if ini.secret.len() > 3 && !elsewhere.contains(&ini.secret) {
            prop_assert!(!debug.contains(&ini.secret), "{}", debug);
        }
    }

    #[test]
    fn a_disabled_ini_profile_is_skipped(
        ini in arb_ini(ini_chars_any()),
        spelling in prop::sample::select(vec!["false", "FALSE", "False", "\"false\""]),
    ) {
        // Last in the profile, so it is the last `enable` (the last value wins).
        let pos = ini.text.rfind("[after]").unwrap();
        let mut text = ini.text.clone();
        text.insert_str(pos, &format!("enable = {spelling}\n"));
        prop_assert!(Credentials::from_ini_str(&text, &ini.profile).unwrap().is_none());
    }

    #[test]
    fn a_generated_cli_config_profile_reads_back(
        profiles in prop::collection::btree_map(
            arb_string(8),
            (
                prop::sample::select(vec!["AK", "", "StsToken"]),
                arb_string(16).prop_filter("non-empty", |s| !s.is_empty()),
                arb_string(16).prop_filter("non-empty", |s| !s.is_empty()),
                arb_string(16).prop_filter("non-empty", |s| !s.is_empty()),
            ),
            1..5,
        ),
        which in any::<Index>(),
        by_current in any::<bool>(),
    ) {
        let list: Vec<_> = profiles.iter().collect();
        let (name, _) = list[which.index(list.len())];
        let json = serde_json::json!({
            "current": if by_current { name.as_str() } else { "" },
            "profiles": list.iter().map(|(n, (m, i, s, t))| serde_json::json!({
                "name": n, "mode": m, "access_key_id": i, "access_key_secret": s, "sts_token": t,
                "region_id": "cn-hangzhou", "output_format": "json",
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&json).unwrap();
        // None reads `current`, and an empty `current` means "default".
        let asked = if by_current { None } else { Some(name.as_str()) };
        let effective = if by_current && name.is_empty() { "default" } else { name.as_str() };
        let found = Credentials::from_cli_config_str(&text, asked)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Some((mode, id, _secret, _token)) = profiles.get(effective) else {
            prop_assert!(found.is_none(), "{:?}", found);
            return Ok(());
        };
        let c = found.ok_or_else(|| TestCaseError::fail("profile not found"))?;
        prop_assert_eq!(c.access_key_id(), id.as_str());
        prop_assert_eq!(c.is_sts(), *mode == "StsToken");
        prop_assert_eq!(c.source(), format!("<text> profile {effective:?}"));
        // Without `current`, None means "default".
        if !by_current {
            let by_default = Credentials::from_cli_config_str(&text, None).unwrap();
            prop_assert_eq!(by_default.is_some(), profiles.contains_key("default"));
        }
    }
}

/// Signs one `PrepareUpload` with `creds` against an emulator that knows
/// only `id`/`secret`/`token`: success proves the secret and the token
/// were read exactly (the public API does not expose them otherwise).
fn emulator_accepts(
    creds: Credentials,
    id: &str,
    secret: &str,
    token: Option<&str>,
) -> Result<(), TestCaseError> {
    let builder = Emulator::builder();
    let emu = match token {
        Some(t) => builder.sts(id, secret, t),
        None => builder.access_key(id, secret),
    }
    .start()
    .map_err(|e| TestCaseError::fail(format!("emulator: {e}")))?;
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(creds)
        .no_proxy()
        .retries(0)
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| TestCaseError::fail(format!("client: {e}")))?;
    let out = client.prepare_upload(&PrepareUploadRequest::new("test"));
    prop_assert!(out.is_ok(), "{:?}", out);
    let requests = emu.requests();
    prop_assert_eq!(requests.len(), 1);
    prop_assert_eq!(requests[0].param("AccessKeyId"), Some(id));
    prop_assert_eq!(requests[0].param("SecurityToken"), token);
    Ok(())
}

fn emulator_config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: (default.cases / 4).max(16),
        ..default
    }
}

proptest! {
    #![proptest_config(emulator_config())]

    /// The secret and token of a generated ini profile come back exactly.
    #[test]
    fn a_generated_ini_profile_signs_with_its_secret_and_token(ini in arb_ini(ini_chars_signable())) {
        let c = Credentials::from_ini_str(&ini.text, &ini.profile).unwrap().unwrap();
        emulator_accepts(c, &ini.id, &ini.secret, ini.token.as_deref())?;
    }
}

/// The emulator check above can fail: a secret or token read wrongly is refused.
#[test]
fn emulator_check_refuses_a_wrong_secret_or_token() {
    let ini =
        "[p]\ntype = sts\naccess_key_id = ID\naccess_key_secret = \"S \"\nsecurity_token = T\n";
    let c = Credentials::from_ini_str(ini, "p").unwrap().unwrap();
    assert!(emulator_accepts(c.clone(), "ID", "S ", Some("T")).is_ok());
    assert!(emulator_accepts(c.clone(), "ID", "S", Some("T")).is_err());
    assert!(emulator_accepts(c, "ID", "S ", Some("T2")).is_err());
}

// ---------------------------------------------------------------------------
// 5. Validation.
// ---------------------------------------------------------------------------

/// Strings around the 255-byte limit, with multi-byte and control characters.
fn arb_bucket_name() -> impl Strategy<Value = String> {
    let tail_char = prop_oneof![
        4 => prop::char::range('a', 'z'),
        1 => prop::sample::select(vec![
            '\0', '\n', '\t', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{a0}', 'é', '中', '😀',
            '\u{200b}', '\u{2028}',
        ]),
        1 => any::<char>(),
    ];
    prop_oneof![
        arb_string(40),
        (240usize..=258, prop::collection::vec(tail_char, 0..4)).prop_map(|(n, tail)| {
            let mut s = "b".repeat(n);
            s.extend(tail);
            s
        }),
    ]
}

fn arb_ip_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(|a| a.to_string()),
        any::<Ipv6Addr>().prop_map(|a| a.to_string()),
        any::<[u16; 8]>().prop_map(|s| s
            .iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":")),
        any::<Ipv4Addr>().prop_map(|a| format!("::ffff:{a}")),
        (
            any::<Ipv4Addr>(),
            prop::sample::select(vec![" ", ":80", "%eth0", "/24", ".", "0"]),
            any::<bool>()
        )
            .prop_map(|(a, junk, front)| if front {
                format!("{junk}{a}")
            } else {
                format!("{a}{junk}")
            }),
        (
            any::<Ipv6Addr>(),
            prop::sample::select(vec!["[", "]", "%1", "::", ":", " "])
        )
            .prop_map(|(a, junk)| format!("{a}{junk}")),
        prop::collection::vec(
            prop::sample::select(vec![
                '0', '1', '9', '2', '5', 'a', 'f', 'F', ':', ':', '.', '.', '%', 'x'
            ]),
            0..40
        )
        .prop_map(String::from_iter),
        arb_string(20),
    ]
}

proptest! {
    #[test]
    fn validate_bucket_name_accepts_exactly_short_control_free_names(name in arb_bucket_name()) {
        let ok = !name.is_empty() && name.len() <= MAX_BUCKET_NAME_LEN && !name.chars().any(is_cc);
        match validate_bucket_name(&name) {
            Ok(()) => prop_assert!(ok, "accepted {:?}", name),
            Err(Error::InvalidInput { field, .. }) => {
                prop_assert!(!ok, "refused {:?}", name);
                prop_assert_eq!(field, "BucketName");
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
        }
    }

    #[test]
    fn validate_client_ip_accepts_exactly_what_std_parses(ip in arb_ip_like()) {
        let ok = ip.parse::<IpAddr>().is_ok();
        match validate_client_ip(&ip) {
            Ok(()) => prop_assert!(ok, "accepted {:?}", ip),
            Err(Error::InvalidInput { field, reason, .. }) => {
                prop_assert!(!ok, "refused {:?}", ip);
                prop_assert_eq!(field, "ClientIp");
                // The input is quoted, cut to 64 bytes.
                prop_assert!(reason.len() <= 64 * 10 + 60, "{}", reason);
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
        }
    }

    #[test]
    fn every_address_std_prints_is_accepted(v4 in any::<Ipv4Addr>(), v6 in any::<Ipv6Addr>()) {
        prop_assert!(validate_client_ip(&v4.to_string()).is_ok());
        prop_assert!(validate_client_ip(&v6.to_string()).is_ok());
        for refused in [format!("[{v6}]"), format!("{v4}:443"), format!(" {v4}"), format!("{v6}%eth0")] {
            prop_assert!(validate_client_ip(&refused).is_err(), "accepted {:?}", refused);
        }
    }

    #[test]
    fn request_validation_checks_bucket_then_ip_then_extras(
        bucket in arb_bucket_name(),
        ip in prop::option::of(arb_ip_like()),
        extras in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "EnsRegionId", "Station", "ObjectKey", "BucketName", "ClientIp", "",
                ]),
                arb_string(10),
            ),
            0..4,
        ),
    ) {
        let mut req = PrepareUploadRequest::new(bucket.clone());
        if let Some(ip) = &ip {
            req = req.client_ip(ip.clone());
        }
        for (k, v) in &extras {
            req = req.param(*k, v.clone());
        }
        // `param` keeps one entry per key, first position, last value.
        let mut expected_extras: Vec<(String, String)> = Vec::new();
        for (k, v) in &extras {
            match expected_extras.iter_mut().find(|(ek, _)| ek == k) {
                Some(slot) => slot.1 = v.clone(),
                None => expected_extras.push(((*k).to_owned(), v.clone())),
            }
        }
        prop_assert_eq!(req.extra_params(), expected_extras.as_slice());
        prop_assert_eq!(req.bucket_name(), bucket.as_str());
        prop_assert_eq!(req.client_ip_value(), ip.as_deref());

        let expected_field = if validate_bucket_name(&bucket).is_err() {
            Some("BucketName".to_owned())
        } else if ip.as_deref().is_some_and(|ip| ip.parse::<IpAddr>().is_err()) {
            Some("ClientIp".to_owned())
        } else {
            expected_extras
                .iter()
                .map(|(k, _)| k.clone())
                .find(|k| k == "BucketName" || k == "ClientIp")
        };
        match (req.validate(), expected_field) {
            (Ok(()), None) => {}
            (Err(Error::InvalidInput { field, .. }), Some(want)) => prop_assert_eq!(field, want),
            (got, want) => return Err(TestCaseError::fail(format!("got {got:?}, expected {want:?}"))),
        }
    }
}

// ---------------------------------------------------------------------------
// 6. Arbitrary answers through the upload path, end to end.
// ---------------------------------------------------------------------------
//
// The headers and bodies the upload path and the retry logic read (`Date`,
// `Retry-After`, `x-acs-retry-after`, `x-oss-hash-crc64ecma`,
// `Content-Length`, OSS's XML, the checkpoint file) are not public API: a
// scripted loopback server answers `Client::upload_file` with them. The
// server, and what must hold for any answers (`answers::check`), are shared
// with the `answers` fuzz target.

#[path = "../fuzz/common/answers.rs"]
mod answers;

use answers::Body as AnswerBody;
use answers::{http_date, Answer, Case, Checkpoint, CheckpointJson, Crc, Length, PartJson};
use ens_upload::upload::MIN_PART_SIZE;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `Date` and `Retry-After` values: dates near now, skewed by hours,
/// absurd, malformed; numbers small, huge, negative; any bytes.
fn arb_header_value() -> impl Strategy<Value = Vec<u8>> {
    let offsets = prop::sample::select(vec![
        0i64,
        1,
        -30,
        600,
        3 * 3600,
        -2 * 3600,
        200 * 365 * 86_400,
        i64::MIN / 4,
    ]);
    prop_oneof![
        3 => offsets.prop_map(|o| http_date(unix_now().saturating_add(o).max(-62_135_596_800)).into_bytes()),
        1 => Just(b"Thu, 01 Jan 1970 00:00:00 GMT".to_vec()),
        1 => Just(b"Sun, 31 Feb 2027 08:49:37 GMT".to_vec()),
        1 => Just(b"Sun, 06 Nov 99999999999999999 08:49:37 GMT".to_vec()),
        1 => Just(b"Sunday, 06-Nov-94 08:49:37 GMT".to_vec()),
        3 => (0u64..=3).prop_map(|n| n.to_string().into_bytes()),
        1 => prop::sample::select(vec![
            "18446744073709551615", "18446744073709551616", "-1", " 1 ", "1.5", "", "0x10",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        2 => prop::collection::vec(any::<u8>(), 0..40),
        1 => arb_string(30).prop_map(String::into_bytes),
    ]
}

fn arb_header() -> impl Strategy<Value = (String, Vec<u8>)> {
    let names = prop::sample::select(vec![
        "Date",
        "Retry-After",
        "x-acs-retry-after",
        "x-oss-hash-crc64ecma",
        "Content-Length",
        "ETag",
        "x-oss-request-id",
        "Transfer-Encoding",
        "Content-Type",
        "Connection",
    ]);
    prop_oneof![
        8 => (names, arb_header_value()),
        1 => (
            Just("Location"),
            prop::sample::select(vec!["http://{sink}/x", "{sink}", "http://{self}/", "", "/x"])
                .prop_map(|s| s.as_bytes().to_vec()),
        ),
        1 => (Just("x-oss-hash-crc64ecma"), Just(b"12345".to_vec())),
    ]
    .prop_map(|(n, v)| (n.to_owned(), v))
}

fn arb_answer_status() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![
        1 => Just(None),
        4 => prop::sample::select(vec![
            200u16, 201, 204, 206, 301, 302, 303, 304, 307, 308, 400, 403, 404, 409, 412, 500,
            502, 503, 504,
        ])
        .prop_map(Some),
        1 => (100u16..=999).prop_map(Some),
    ]
}

fn arb_answer_body() -> impl Strategy<Value = AnswerBody> {
    let codes = prop::sample::select(vec![
        "NoSuchUpload",
        "InvalidPart",
        "RequestTimeTooSkewed",
        "SignatureDoesNotMatch",
        "InternalError",
        "AccessDenied",
        "NoSuchKey",
        "Throttling",
        "ServiceUnavailable",
        "InvalidTimeStamp.Expired",
        "",
    ])
    .prop_map(str::to_owned);
    let text = prop_oneof![
        3 => arb_string(20),
        1 => prop::sample::select(vec!["a&b", "<x>", "&amp;&#x41;&#65;&bogus;", "]]>", "&#xFFFFFFFF;"])
            .prop_map(str::to_owned),
    ];
    prop_oneof![
        6 => Just(AnswerBody::Default),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(AnswerBody::Bytes),
        2 => (
            prop::sample::select(vec!["test-a1b2c3", "TEST", "a", "", "ok-bucket", "-x-"])
                .prop_map(str::to_owned),
            prop::sample::select(vec![
                "{self}", "http://{self}", "https://{self}", "ftp://{self}", "{self}/",
                "{self}/path", "", "[::1]:1", "{self}:1", "host name", "user@{self}",
            ])
            .prop_map(str::to_owned),
        )
            .prop_map(|(bucket, endpoint)| AnswerBody::Prepare { bucket, endpoint }),
        1 => (codes.clone(), text.clone()).prop_map(|(code, message)| AnswerBody::RpcError { code, message }),
        3 => (codes, text.clone(), text.clone(), prop::option::of(text.clone()), any::<bool>())
            .prop_map(|(code, message, request_id, string_to_sign, escape)| AnswerBody::OssError {
                code, message, request_id, string_to_sign, escape,
            }),
        1 => (text.clone(), any::<bool>()).prop_map(|(upload_id, escape)| AnswerBody::Initiate { upload_id, escape }),
        1 => (text, any::<bool>()).prop_map(|(etag, escape)| AnswerBody::Complete { etag, escape }),
        1 => prop::sample::select(vec![(1usize << 20), (1 << 20) + 1]).prop_map(AnswerBody::Huge),
        1 => (0usize..300).prop_map(|prefix| AnswerBody::Echo { prefix }),
    ]
}

fn arb_answer() -> impl Strategy<Value = Answer> {
    let crc = prop_oneof![
        4 => Just(Crc::Right),
        1 => any::<u64>().prop_map(Crc::Xor),
        1 => Just(Crc::Absent),
        1 => prop::sample::select(vec!["", " 1", "-1", "abc", "18446744073709551616"])
            .prop_map(|s| Crc::Raw(s.as_bytes().to_vec())),
    ];
    let length = prop_oneof![
        6 => Just(Length::Right),
        1 => Just(Length::Absent),
        1 => prop::sample::select(vec!["0", "1", "-1", "abc", "99999999999999999999", "5, 5"])
            .prop_map(|s| Length::Raw(s.as_bytes().to_vec())),
    ];
    prop_oneof![
        10 => (arb_answer_status(), prop::collection::vec(arb_header(), 0..4), crc, length, arb_answer_body())
            .prop_map(|(status, headers, crc, length, body)| Answer::Http { status, headers, crc, length, body }),
        1 => Just(Answer::Close),
        1 => prop::sample::select(vec![0u64, 20, 1200])
            .prop_map(|ms| Answer::Silent(Duration::from_millis(ms))),
        1 => prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
            Just(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab".to_vec()),
            Just(b"HTTP/1.0 200 OK\r\n\r\n".to_vec()),
            Just(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        ]
        .prop_map(Answer::Raw),
    ]
}

fn arb_checkpoint() -> impl Strategy<Value = Checkpoint> {
    let part = (
        0u32..=5,
        prop::sample::select(vec!["\"E-1\"", "", "a&b<c>"]).prop_map(str::to_owned),
        prop::option::weighted(
            0.2,
            prop::sample::select(vec!["0", "x", "18446744073709551615", "-1"])
                .prop_map(str::to_owned),
        ),
        prop::option::weighted(
            0.2,
            prop::sample::select(vec![0u64, 1, MIN_PART_SIZE, u64::MAX]),
        ),
    )
        .prop_map(|(number, etag, crc64, size)| PartJson {
            number,
            etag,
            crc64,
            size,
        });
    let json = (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::sample::select(vec!["UPLOAD-0", "", "a&b"]).prop_map(str::to_owned),
        prop::option::weighted(
            0.3,
            prop::sample::select(vec![0u64, 50_000, MIN_PART_SIZE / 2, 1 << 40, u64::MAX]),
        ),
        prop::collection::vec(part, 0..4),
        prop::option::weighted(
            0.15,
            prop::sample::select(vec![
                "format",
                "parts",
                "file",
                "part_size",
                "upload_id",
                "extra",
            ])
            .prop_map(str::to_owned),
        ),
    )
        .prop_map(
            |(
                format_right,
                place_right,
                key_right,
                file_right,
                upload_id,
                part_size,
                parts,
                mangle,
            )| {
                CheckpointJson {
                    format_right,
                    place_right,
                    key_right,
                    file_right,
                    upload_id,
                    part_size,
                    parts,
                    mangle,
                }
            },
        );
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Checkpoint::Bytes),
        3 => json.prop_map(Checkpoint::Json),
    ]
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        0..answers::SIZES.len(),
        prop::sample::select(vec![0u64, 1000, MIN_PART_SIZE, 8 << 20]),
        prop::sample::select(vec![MIN_PART_SIZE, MIN_PART_SIZE + 1000]),
        0u32..=2,
        prop::option::weighted(0.3, arb_checkpoint()),
        prop::collection::vec(prop::option::weighted(0.35, arb_answer()), 0..8),
    )
        .prop_map(
            |(size, multipart_threshold, part_size, retries, checkpoint, answers)| Case {
                size,
                multipart_threshold,
                part_size,
                retries,
                read_timeout: Duration::from_secs(1),
                call_timeout: Duration::from_secs(3),
                checkpoint,
                answers,
            },
        )
}

/// The scripted server answering correctly is a correct OSS: every size,
/// one PutObject and multipart, succeeds (so the property below can demand
/// success when nothing was scripted).
#[test]
fn answer_server_without_a_script_is_a_correct_oss() {
    for size in 0..answers::SIZES.len() {
        for multipart_threshold in [0, 8 << 20] {
            let case = Case {
                size,
                multipart_threshold,
                part_size: MIN_PART_SIZE,
                retries: 0,
                read_timeout: Duration::from_secs(2),
                call_timeout: Duration::from_secs(3),
                checkpoint: None,
                answers: Vec::new(),
            };
            let out = answers::run(&case);
            let r = out.result.as_ref().expect("a correct server");
            let size = answers::SIZES[size];
            assert_eq!(r.parts > 0, size > multipart_threshold, "{r:?}");
            answers::check(&case, &out).unwrap();
        }
    }
}

/// A checkpoint of ours that matches the file resumes: its parts are not
/// sent again.
#[test]
fn answer_server_resumes_a_matching_checkpoint() {
    let case = Case {
        size: 6, // three parts
        multipart_threshold: 0,
        part_size: MIN_PART_SIZE,
        retries: 0,
        read_timeout: Duration::from_secs(2),
        call_timeout: Duration::from_secs(3),
        checkpoint: Some(Checkpoint::Json(CheckpointJson {
            format_right: true,
            place_right: true,
            key_right: true,
            file_right: true,
            upload_id: "UPLOAD-0".into(),
            part_size: None,
            parts: (1..=2)
                .map(|number| PartJson {
                    number,
                    etag: format!("\"E-{number}\""),
                    crc64: None,
                    size: None,
                })
                .collect(),
            mangle: None,
        })),
        answers: Vec::new(),
    };
    let out = answers::run(&case);
    answers::check(&case, &out).unwrap();
    let r = out.result.unwrap();
    assert_eq!((r.parts, r.resumed_parts), (3, 2));
    let parts: Vec<_> = out.seen.iter().filter_map(|s| s.part).collect();
    assert_eq!(parts, [3]);
}

/// Each case is a few loopback exchanges (some wait out a read timeout):
/// an eighth of the default cases.
fn answers_config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: (default.cases / 8).max(16),
        ..default
    }
}

proptest! {
    #![proptest_config(answers_config())]

    /// Any answers to `upload_file` (the `PrepareUpload` call and every OSS
    /// request), any checkpoint left before it: no panic, no hang, no
    /// redirect followed, success only with the right object confirmed by
    /// the server, typed errors consistent with the answers, no secret in
    /// them (see `fuzz/common/answers.rs`).
    #[test]
    fn upload_survives_arbitrary_answers(case in arb_case()) {
        let out = answers::run(&case);
        if let Err(why) = answers::check(&case, &out) {
            return Err(TestCaseError::fail(why));
        }
    }
}
