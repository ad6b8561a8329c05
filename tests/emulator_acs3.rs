//! The emulator verifies signature V3 (ACS3-HMAC-SHA256) as the current
//! official SDKs send it: the action, version, date and nonce in `x-acs-*`
//! headers, the parameters in the query, `Authorization` naming the signed
//! headers. Requests are signed here with `sign::acs3_hmac_sha256`, which
//! `tests/vectors.rs` checks against the SDK's own output.

use ens_upload::emulator::{
    Emulator, TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET, TEST_SECURITY_TOKEN,
    TEST_STS_ACCESS_KEY_ID, TEST_STS_ACCESS_KEY_SECRET,
};
use ens_upload::sign::{acs3_hmac_sha256, format_timestamp, percent_encode, sha256_hex};

/// What a test changes in an otherwise well-signed request.
#[derive(Default)]
struct Tweak {
    secret: Option<&'static str>,
    nonce: Option<String>,
    /// A header sent but left out of `SignedHeaders`.
    unsigned_header: Option<(&'static str, &'static str)>,
    /// Sent as `x-acs-content-sha256` instead of the body's hash.
    content_sha256: Option<String>,
    date: Option<String>,
}

struct Answer {
    status: u16,
    json: serde_json::Value,
}

fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "acs3-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sends PrepareUpload signed with V3, as the Tea SDK does.
fn send(emu: &Emulator, sts: bool, query: &[(&str, &str)], tweak: Tweak) -> Answer {
    let (id, secret) = if sts {
        (TEST_STS_ACCESS_KEY_ID, TEST_STS_ACCESS_KEY_SECRET)
    } else {
        (TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET)
    };
    let host = emu.addr().to_string();
    let nonce = tweak.nonce.unwrap_or_else(nonce);
    let date = tweak
        .date
        .unwrap_or_else(|| format_timestamp(std::time::SystemTime::now()));
    let body_sha = sha256_hex(b"");
    let sent_sha = tweak.content_sha256.unwrap_or_else(|| body_sha.clone());
    let mut headers: Vec<(&str, &str)> = vec![
        ("host", &host),
        ("accept", "application/json"),
        ("x-acs-action", "PrepareUpload"),
        ("x-acs-version", "2017-11-10"),
        ("x-acs-date", &date),
        ("x-acs-signature-nonce", &nonce),
        ("x-acs-content-sha256", &sent_sha),
    ];
    if sts {
        headers.push(("x-acs-security-token", TEST_SECURITY_TOKEN));
        headers.push(("x-acs-accesskey-id", id));
    }
    let sig = acs3_hmac_sha256(
        "POST",
        "/",
        query,
        &headers,
        &sent_sha,
        tweak.secret.unwrap_or(secret),
    );
    let query_string: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    let url = format!("{}/?{}", emu.endpoint(), query_string.join("&"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = agent
        .post(&url)
        .header("authorization", sig.authorization(id));
    for (k, v) in headers.iter().filter(|(k, _)| *k != "host") {
        request = request.header(*k, *v);
    }
    if let Some((k, v)) = tweak.unsigned_header {
        request = request.header(k, v);
    }
    let mut response = request.send(&[][..]).unwrap();
    let status = response.status().as_u16();
    let json = serde_json::from_slice(&response.body_mut().read_to_vec().unwrap()).unwrap();
    Answer { status, json }
}

fn code(a: &Answer) -> &str {
    a.json["Code"].as_str().unwrap_or_default()
}

#[test]
fn a_v3_signed_prepare_upload_succeeds_with_an_access_key_and_with_sts() {
    let emu = Emulator::start().unwrap();
    for sts in [false, true] {
        let a = send(
            &emu,
            sts,
            &[("BucketName", "test"), ("ClientIp", "180.166.1.2")],
            Tweak::default(),
        );
        assert_eq!(a.status, 200, "sts {sts}: {}", a.json);
        assert!(a.json["BucketName"].as_str().unwrap().starts_with("test-"));
        assert_eq!(a.json["Endpoint"], emu.addr().to_string());
    }
    // The seed's error codes come the same way.
    let a = send(
        &emu,
        false,
        &[("BucketName", "nosuchbucket")],
        Tweak::default(),
    );
    assert_eq!((a.status, code(&a)), (404, "NoSuchBucket"));
}

#[test]
fn a_bad_v3_signature_is_refused_with_the_servers_string_to_sign() {
    let emu = Emulator::start().unwrap();
    let a = send(
        &emu,
        false,
        &[("BucketName", "test")],
        Tweak {
            secret: Some("not-the-secret"),
            ..Tweak::default()
        },
    );
    assert_eq!((a.status, code(&a)), (400, "SignatureDoesNotMatch"));
    let message = a.json["Message"].as_str().unwrap();
    assert!(
        message.contains("string to sign is:ACS3-HMAC-SHA256\n"),
        "{message}"
    );
}

#[test]
fn what_v3_leaves_out_or_gets_wrong_is_refused() {
    let emu = Emulator::start().unwrap();
    let q = [("BucketName", "test")];
    // An x-acs-* header that is not signed.
    let a = send(
        &emu,
        false,
        &q,
        Tweak {
            unsigned_header: Some(("x-acs-extra", "1")),
            ..Tweak::default()
        },
    );
    assert_eq!(
        (a.status, code(&a)),
        (400, "IncompleteSignature"),
        "{}",
        a.json
    );
    // A content hash that is not the body's.
    let a = send(
        &emu,
        false,
        &q,
        Tweak {
            content_sha256: Some(sha256_hex(b"another body")),
            ..Tweak::default()
        },
    );
    assert_eq!(
        (a.status, code(&a)),
        (400, "IncompleteSignature"),
        "{}",
        a.json
    );
    // A nonce used twice.
    let reused = nonce();
    let first = send(
        &emu,
        false,
        &q,
        Tweak {
            nonce: Some(reused.clone()),
            ..Tweak::default()
        },
    );
    assert_eq!(first.status, 200);
    let a = send(
        &emu,
        false,
        &q,
        Tweak {
            nonce: Some(reused),
            ..Tweak::default()
        },
    );
    assert_eq!((a.status, code(&a)), (400, "SignatureNonceUsed"));
    // A date years off.
    let a = send(
        &emu,
        false,
        &q,
        Tweak {
            date: Some("2020-01-01T00:00:00Z".into()),
            ..Tweak::default()
        },
    );
    assert_eq!((a.status, code(&a)), (400, "InvalidTimeStamp.Expired"));
    // Each refusal was recorded with its code, as for RPC 1.0.
    let codes: Vec<_> = emu.requests().into_iter().map(|r| r.code).collect();
    assert_eq!(codes.len(), 5);
    assert_eq!(codes[2], None);
}
