//! PrepareUpload end to end against the emulator: the wire, the answers,
//! every error code of the reference, and input refused before sending.

mod common;

use std::collections::HashSet;

use common::{client_for, raw_exchange};
use ens_upload::emulator::{self, Emulator, KeyState};
use ens_upload::sign::rpc_v1;
use ens_upload::{Client, Credentials, Error, KnownCode, PrepareUploadRequest, SignatureDiagnosis};

#[test]
fn success_returns_the_three_fields() {
    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.credentials());
    let out = client
        .prepare_upload(&PrepareUploadRequest::new("test").client_ip("180.166.1.2"))
        .unwrap();
    assert!(
        out.bucket_name.starts_with("test-") && out.bucket_name.len() == 11,
        "{out:?}"
    );
    assert_eq!(out.endpoint, emu.addr().to_string());
    assert_eq!(out.request_id.len(), 36, "{out:?}");
    let seen = emu.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status, 200);
    assert_eq!(seen[0].code, None);
}

#[test]
fn the_wire_matches_the_official_sdks() {
    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.credentials());
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    client
        .prepare_upload(&PrepareUploadRequest::new("test").client_ip("2001:db8::1"))
        .unwrap();
    let seen = emu.requests();
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/");
    assert_eq!(r.body_len, 0);
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(r.header("x-acs-action"), Some("PrepareUpload"));
    assert_eq!(r.header("x-acs-version"), Some("2017-11-10"));
    assert_eq!(r.header("accept"), Some("application/json"));
    let ua = r.header("user-agent").unwrap();
    assert!(
        ua.starts_with(&format!("ens-upload/{}", env!("CARGO_PKG_VERSION"))),
        "{ua}"
    );

    for (k, v) in [
        ("Action", "PrepareUpload"),
        ("Version", "2017-11-10"),
        ("Format", "JSON"),
        ("AccessKeyId", emulator::TEST_ACCESS_KEY_ID),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("BucketName", "test"),
    ] {
        assert_eq!(r.param(k), Some(v), "{k}");
    }
    assert_eq!(r.param("ClientIp"), None, "ClientIp only when given");
    assert_eq!(r.param("SecurityToken"), None);
    assert_eq!(seen[1].param("ClientIp"), Some("2001:db8::1"));

    let ts = r.param("Timestamp").unwrap();
    let b = ts.as_bytes();
    assert_eq!(ts.len(), 20, "{ts}");
    assert!(
        b[4] == b'-' && b[10] == b'T' && b[13] == b':' && b[19] == b'Z',
        "{ts}"
    );
    assert_ne!(r.param("SignatureNonce"), seen[1].param("SignatureNonce"));

    // The signature in the query is RPC v1 over every other parameter.
    let unsigned: Vec<(&str, &str)> = r
        .params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expected = rpc_v1("POST", &unsigned, emulator::TEST_ACCESS_KEY_SECRET);
    assert_eq!(r.param("Signature"), Some(expected.signature.as_str()));
}

#[test]
fn sts_credentials_send_the_security_token() {
    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.sts_credentials());
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    let r = &emu.requests()[0];
    assert_eq!(
        r.param("SecurityToken"),
        Some(emulator::TEST_SECURITY_TOKEN)
    );
    assert_eq!(
        r.param("AccessKeyId"),
        Some(emulator::TEST_STS_ACCESS_KEY_ID)
    );

    // A wrong token is the server's error, and the token never shows in it.
    let bad = client_for(
        &emu,
        Credentials::sts(
            emulator::TEST_STS_ACCESS_KEY_ID,
            emulator::TEST_STS_ACCESS_KEY_SECRET,
            "WRONG-TOKEN-VALUE",
        ),
    );
    let e = bad
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    assert_eq!(
        e.api().unwrap().known_code(),
        KnownCode::InvalidSecurityToken
    );
    assert!(!format!("{e} {e:?}").contains("WRONG-TOKEN-VALUE"));
}

/// Asserts an API error with every field the server sends.
fn assert_api(e: &Error, status: u16, code: &str, message_part: &str) {
    let api = e
        .api()
        .unwrap_or_else(|| panic!("expected API error {code}, got {e:?}"));
    assert_eq!(api.http_status, status, "{e}");
    assert_eq!(api.code, code, "{e}");
    assert!(api.message.contains(message_part), "{e}");
    assert_eq!(api.request_id.len(), 36, "{e}");
    assert_eq!(api.host_id, "ens.aliyuncs.com");
    assert!(api.recommend.contains(code), "{}", api.recommend);
    assert_eq!(e.http_status(), Some(status));
    assert_eq!(e.code(), Some(code));
    assert_eq!(e.request_id(), Some(api.request_id.as_str()));
    let shown = e.to_string();
    assert!(
        shown.contains(code) && shown.contains(&api.request_id),
        "{shown}"
    );
}

#[test]
fn every_seed_error_code_comes_back_typed() {
    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.credentials());

    let e = client
        .prepare_upload(&PrepareUploadRequest::new("missing"))
        .unwrap_err();
    assert_api(&e, 404, "NoSuchBucket", "does not exist");
    assert!(e.api().unwrap().is_no_such_bucket());

    let e = client
        .prepare_upload(&PrepareUploadRequest::new("Bad_Name"))
        .unwrap_err();
    assert_api(&e, 400, "InvalidBucketName", "BucketName");
    assert!(e.api().unwrap().is_invalid_bucket_name());

    // The client refuses a bad ClientIp itself; the generic call lets the
    // server say it.
    let e = client
        .call(
            "PrepareUpload",
            &[("BucketName", "test"), ("ClientIp", "999.1.1.1")],
        )
        .unwrap_err();
    assert_api(&e, 400, "InvalidClientIp", "ClientIp");
    assert!(e.api().unwrap().is_invalid_client_ip());

    let e = client
        .prepare_upload(&PrepareUploadRequest::new("test").param("aliUid", "abc"))
        .unwrap_err();
    assert_api(&e, 400, "InvalidaliUid", "aliUid");
    assert_eq!(e.api().unwrap().known_code(), KnownCode::InvalidAliUid);

    let e = client
        .prepare_upload(&PrepareUploadRequest::new("test").param("EnsRegionId", ""))
        .unwrap_err();
    assert_api(&e, 400, "InvalidParameter.EnsRegionId", "EnsRegionId");
    assert_eq!(e.api().unwrap().known_code(), KnownCode::InvalidParameter);

    for (id, state) in emulator::TEST_DENIED_KEYS {
        let c = client_for(
            &emu,
            Credentials::access_key(*id, emulator::TEST_ACCESS_KEY_SECRET),
        );
        let e = c
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err();
        let api = e.api().unwrap();
        match state {
            KeyState::AccessDenied => {
                assert_api(&e, 403, "AccessDenied", "Auth is not valid");
                assert!(api.is_access_denied());
            }
            KeyState::UserDisable => {
                assert_api(&e, 403, "UserDisable", "arrears");
                assert!(api.is_user_disabled());
            }
            KeyState::NoPermission => {
                assert_api(&e, 400, "NoPermission", "Permission denied");
                assert!(api.is_no_permission());
            }
            other => panic!("unexpected state {other:?}"),
        }
    }
}

#[test]
fn unknown_key_and_wrong_secret() {
    let emu = Emulator::start().unwrap();
    let unknown = client_for(&emu, Credentials::access_key("LTAI-nobody", "x"));
    let e = unknown
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    assert_api(&e, 404, "InvalidAccessKeyId.NotFound", "access key");

    let wrong = client_for(
        &emu,
        Credentials::access_key(emulator::TEST_ACCESS_KEY_ID, "WRONG-SECRET-VALUE"),
    );
    let e = wrong
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    assert_api(&e, 400, "SignatureDoesNotMatch", "string to sign");
    assert_eq!(
        e.api().unwrap().signature_diagnosis,
        Some(SignatureDiagnosis::WrongSecret)
    );
    let shown = e.to_string();
    assert!(shown.contains("secret is wrong"), "{shown}");
    assert!(!format!("{shown} {e:?}").contains("WRONG-SECRET-VALUE"));
}

#[test]
fn bad_input_is_refused_before_sending() {
    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.credentials());
    let long = "a".repeat(256);
    let cases: Vec<(PrepareUploadRequest, &str, &str)> = vec![
        (PrepareUploadRequest::new(""), "BucketName", "empty"),
        (PrepareUploadRequest::new("te\0st"), "BucketName", "control"),
        (PrepareUploadRequest::new("te\nst"), "BucketName", "control"),
        (
            PrepareUploadRequest::new("te\u{7f}st"),
            "BucketName",
            "control",
        ),
        (
            PrepareUploadRequest::new(long.as_str()),
            "BucketName",
            "256 bytes",
        ),
        (
            PrepareUploadRequest::new("test").client_ip(""),
            "ClientIp",
            "not an IPv4",
        ),
        (
            PrepareUploadRequest::new("test").client_ip("1.2.3"),
            "ClientIp",
            "not an IPv4",
        ),
        (
            PrepareUploadRequest::new("test").client_ip("example.com"),
            "ClientIp",
            "not an IPv4",
        ),
        (
            PrepareUploadRequest::new("test").client_ip("1.2.3.4 "),
            "ClientIp",
            "not an IPv4",
        ),
        (
            PrepareUploadRequest::new("test").param("BucketName", "x"),
            "BucketName",
            ".param",
        ),
    ];
    for (req, field, why) in cases {
        let e = client.prepare_upload(&req).unwrap_err();
        match &e {
            Error::InvalidInput {
                field: f, reason, ..
            } => {
                assert_eq!(f, field, "{e}");
                assert!(reason.contains(why), "{e}");
            }
            other => panic!("expected InvalidInput for {req:?}, got {other:?}"),
        }
    }
    // 255 bytes is fine on our side (the server judges the name).
    let e = client
        .prepare_upload(&PrepareUploadRequest::new("a".repeat(255)))
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidBucketName"));
    assert_eq!(emu.requests().len(), 1, "only the 255-byte name was sent");
}

#[test]
fn generic_call_returns_json_and_refuses_reserved_parameters() {
    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.credentials());
    let v = client
        .call("PrepareUpload", &[("BucketName", "test")])
        .unwrap();
    assert!(v["BucketName"].as_str().unwrap().starts_with("test-"));
    assert_eq!(v["Endpoint"], emu.addr().to_string());

    for reserved in [
        "Signature",
        "Timestamp",
        "AccessKeyId",
        "SecurityToken",
        "Action",
    ] {
        let e = client
            .call("PrepareUpload", &[(reserved, "x")])
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidInput { field, .. } if field == reserved),
            "{e:?}"
        );
    }
    let e = client
        .call("Prepare Upload", &[("BucketName", "test")])
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let e = client.call("DescribeNothing", &[("A", "b")]).unwrap_err();
    assert_api(&e, 404, "InvalidAction.NotFound", "DescribeNothing");
    assert_eq!(emu.requests().len(), 2);
}

#[test]
fn extra_parameters_are_sent_and_signed() {
    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.credentials());
    let req = PrepareUploadRequest::new("test")
        .param("EnsRegionId", "cn-beijing")
        .param("ObjectKey", "dir/a b*c.bin")
        .param("EnsRegionId", "cn-shanghai");
    client.prepare_upload(&req).unwrap();
    let r = &emu.requests()[0];
    assert_eq!(r.param("EnsRegionId"), Some("cn-shanghai"));
    assert_eq!(r.param("ObjectKey"), Some("dir/a b*c.bin"));
    assert!(
        r.raw_query.contains("ObjectKey=dir%2Fa%20b%2Ac.bin"),
        "{}",
        r.raw_query
    );
}

#[test]
fn one_client_shared_by_threads_reuses_connections() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Client>();

    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.credentials());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = client.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    c.prepare_upload(&PrepareUploadRequest::new("test"))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seen = emu.requests();
    assert_eq!(seen.len(), 100);
    let nonces: HashSet<_> = seen
        .iter()
        .map(|r| r.param("SignatureNonce").unwrap())
        .collect();
    assert_eq!(nonces.len(), 100, "every nonce is fresh");
    let connections: HashSet<_> = seen.iter().map(|r| r.connection_id).collect();
    assert!(
        connections.len() <= 8,
        "keep-alive pool: {} connections for 100 calls",
        connections.len()
    );
}

#[test]
fn emulator_refuses_replays_and_stale_timestamps() {
    let emu = Emulator::start().unwrap();
    let client = client_for(&emu, emu.credentials());
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    let query = emu.requests()[0].raw_query.clone();
    let replay = format!(
        "POST /?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_exchange(emu.addr(), &replay);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("\"Code\":\"SignatureNonceUsed\""),
        "{answer}"
    );

    // A correctly signed request from 20 minutes ago.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(20 * 60);
    let ts = ens_upload::sign::format_timestamp(old);
    let params = [
        ("Action", "PrepareUpload"),
        ("Version", "2017-11-10"),
        ("Format", "JSON"),
        ("AccessKeyId", emulator::TEST_ACCESS_KEY_ID),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "stale-nonce-1"),
        ("Timestamp", ts.as_str()),
        ("BucketName", "test"),
    ];
    let q = rpc_v1("POST", &params, emulator::TEST_ACCESS_KEY_SECRET).signed_query();
    let answer = raw_exchange(
        emu.addr(),
        &format!(
            "POST /?{q} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(
        answer.contains("\"Code\":\"InvalidTimeStamp.Expired\""),
        "{answer}"
    );
}
