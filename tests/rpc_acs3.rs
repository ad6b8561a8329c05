//! ENS calls signed with signature V3 (`ACS3-HMAC-SHA256`), the option
//! beside RPC 1.0: AccessKey and STS, retries, clock skew, errors.

use std::time::Duration;

use ens_upload::emulator::{Emulator, Fault};
use ens_upload::{Client, Credentials, PrepareUploadRequest, Signature};

fn acs3_client(emu: &Emulator, creds: Credentials) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(creds)
        .signature(Signature::Acs3HmacSha256)
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap()
}

#[test]
fn prepare_upload_goes_out_as_the_tea_sdk_sends_it() {
    let emu = Emulator::start().unwrap();
    for (creds, sts) in [(emu.credentials(), false), (emu.sts_credentials(), true)] {
        emu.clear_requests();
        let out = acs3_client(&emu, creds)
            .prepare_upload(&PrepareUploadRequest::new("test").client_ip("180.166.1.2"))
            .unwrap();
        assert!(out.bucket_name.starts_with("test-"));
        let requests = emu.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        let auth = r.header("authorization").unwrap();
        assert!(auth.starts_with("ACS3-HMAC-SHA256 Credential="), "{auth}");
        for h in [
            "x-acs-action",
            "x-acs-version",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-content-sha256",
        ] {
            assert!(r.header(h).is_some(), "{h} missing");
            assert!(auth.contains(h), "{h} not signed: {auth}");
        }
        assert_eq!(r.header("x-acs-action"), Some("PrepareUpload"));
        assert_eq!(r.header("x-acs-security-token").is_some(), sts);
        // The parameters in the query; nothing of RPC 1.0's.
        assert_eq!(r.param("BucketName"), Some("test"));
        assert_eq!(r.param("ClientIp"), Some("180.166.1.2"));
        assert_eq!(r.param("Signature"), None);
        assert_eq!(r.param("SecurityToken"), None);
    }
}

#[test]
fn retries_and_generic_calls_work_as_with_rpc_v1() {
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::InternalError, 1);
    let client = acs3_client(&emu, emu.credentials());
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert_eq!(emu.requests().len(), 2, "one retry after the 500");
    let json = client
        .call("PrepareUpload", &[("BucketName", "test")])
        .unwrap();
    assert!(json["BucketName"].as_str().unwrap().starts_with("test-"));
}

#[test]
fn a_skewed_server_clock_is_learned_and_the_call_signed_again() {
    let emu = Emulator::builder()
        .clock_skew_secs(2 * 3600)
        .start()
        .unwrap();
    let client = acs3_client(&emu, emu.sts_credentials());
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert!((client.clock_offset() - 2 * 3600).abs() <= 5);
}

#[test]
fn a_wrong_secret_is_refused_as_a_signature_mismatch() {
    let emu = Emulator::start().unwrap();
    let creds = Credentials::access_key(ens_upload::emulator::TEST_ACCESS_KEY_ID, "not-the-secret");
    let e = acs3_client(&emu, creds)
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"), "{e}");
    assert!(!e.to_string().contains("not-the-secret"));
}

#[test]
fn uploads_ask_where_to_upload_with_acs3_too() {
    let emu = Emulator::start().unwrap();
    let data = [9u8; 1000];
    let out = acs3_client(&emu, emu.sts_credentials())
        .upload_reader(
            &PrepareUploadRequest::new("test"),
            "acs3/k",
            &data[..],
            1000,
            &ens_upload::UploadOptions::new(),
        )
        .unwrap();
    assert_eq!(out.size, 1000);
    let prepare = emu.requests().into_iter().find(|r| r.path == "/").unwrap();
    assert!(prepare
        .header("authorization")
        .is_some_and(|a| a.starts_with("ACS3-HMAC-SHA256 ")));
}
