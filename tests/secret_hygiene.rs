//! A recognisable secret and security token are driven through every error
//! path and every Debug/Display: they must never come out.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{canned_server, canned_server_recording, http_response};
use ens_upload::emulator::{Emulator, Fault};
use ens_upload::sign::rpc_v1;
use ens_upload::{Client, ClientBuilder, Credentials, Error, PrepareUploadRequest};

const ID: &str = "STS.HygieneKeyId";
const SECRET: &str = "S3CR3T-HYGIENE-VALUE";
const TOKEN: &str = "T0K3N-HYGIENE-VALUE";

fn assert_clean(what: &str, text: &str) {
    for needle in [SECRET, TOKEN, "S3CR3T", "T0K3N"] {
        assert!(!text.contains(needle), "{what} leaks {needle}: {text}");
    }
}

fn assert_error_clean(what: &str, e: &Error) {
    assert_clean(what, &format!("{e}"));
    assert_clean(what, &format!("{e:?}"));
    assert_clean(what, &format!("{e:#?}"));
    if let Some(api) = e.api() {
        assert_clean(what, &format!("{api} {api:?}"));
    }
}

fn creds() -> Credentials {
    Credentials::sts(ID, SECRET, TOKEN)
}

fn client(endpoint: &str) -> ClientBuilder {
    Client::builder()
        .endpoint(endpoint)
        .credentials(creds())
        .read_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(500))
        .retries(0)
}

#[test]
fn no_error_path_leaks_the_secret_or_token() {
    let emu = Emulator::builder().sts(ID, SECRET, TOKEN).start().unwrap();
    let ok = client(&emu.endpoint()).build().unwrap();
    ok.prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();

    let mut errors: Vec<(String, Error)> = Vec::new();
    let mut push = |what: &str, r: Result<ens_upload::PrepareUploadResponse, Error>| {
        errors.push((what.to_owned(), r.expect_err(what)));
    };

    // Every API error the emulator gives.
    push(
        "NoSuchBucket",
        ok.prepare_upload(&PrepareUploadRequest::new("missing")),
    );
    push(
        "InvalidBucketName",
        ok.prepare_upload(&PrepareUploadRequest::new("Bad_Name")),
    );
    let wrong_secret = client(&emu.endpoint())
        .credentials(Credentials::sts(ID, "S3CR3T-WRONG", TOKEN))
        .build()
        .unwrap();
    push(
        "wrong secret",
        wrong_secret.prepare_upload(&PrepareUploadRequest::new("test")),
    );
    let wrong_token = client(&emu.endpoint())
        .credentials(Credentials::sts(ID, SECRET, "T0K3N-WRONG"))
        .build()
        .unwrap();
    push(
        "wrong token",
        wrong_token.prepare_upload(&PrepareUploadRequest::new("test")),
    );

    // Every fault.
    for fault in [
        Fault::InternalError,
        Fault::ServiceUnavailable,
        Fault::Throttling { retry_after_ms: 1 },
        Fault::ConnectionReset,
        Fault::Slow(Duration::from_millis(800)),
        Fault::NonJson,
        Fault::TruncatedBody,
        Fault::BadGatewayHtml,
        Fault::HugeBody(2 << 20),
    ] {
        emu.inject(fault.clone(), 1);
        push(
            &format!("{fault:?}"),
            ok.prepare_upload(&PrepareUploadRequest::new("test")),
        );
    }

    // A canonicalization mismatch quoting a server string with the token in it.
    let ours = rpc_v1("POST", &[("SecurityToken", TOKEN), ("A", "b")], SECRET);
    let body = format!(
        r#"{{"Code":"SignatureDoesNotMatch","Message":"server string to sign is:{}","RequestId":"r"}}"#,
        ours.string_to_sign.replace("A%3Db", "A%3Dc")
    );
    let endpoint = canned_server(http_response("400 Bad Request", "", body.as_bytes()), 1);
    push(
        "canonicalization",
        client(&endpoint)
            .build()
            .unwrap()
            .prepare_upload(&PrepareUploadRequest::new("test")),
    );

    // A redirect, which must not be followed.
    let (elsewhere, followed) = canned_server_recording(http_response("200 OK", "", b"{}"), 1);
    let endpoint = canned_server(
        http_response(
            "307 Temporary Redirect",
            &format!("Location: {elsewhere}/\r\n"),
            b"",
        ),
        1,
    );
    push(
        "redirect",
        client(&endpoint)
            .build()
            .unwrap()
            .prepare_upload(&PrepareUploadRequest::new("test")),
    );
    assert!(
        followed.recv_timeout(Duration::from_millis(300)).is_err(),
        "3xx followed"
    );

    // Transport failures.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    push(
        "refused",
        client(&closed)
            .build()
            .unwrap()
            .prepare_upload(&PrepareUploadRequest::new("test")),
    );
    push(
        "dns",
        client("http://no-such-host.invalid")
            .no_proxy()
            .build()
            .unwrap()
            .prepare_upload(&PrepareUploadRequest::new("test")),
    );
    push(
        "tls",
        client(&emu.endpoint().replace("http://", "https://"))
            .build()
            .unwrap()
            .prepare_upload(&PrepareUploadRequest::new("test")),
    );

    // Configuration and credentials.
    let build_err = |b: ClientBuilder| b.build().map(|_| unreachable!());
    errors.push((
        "endpoint with userinfo".into(),
        build_err(client("https://user:S3CR3T@host")).unwrap_err(),
    ));
    errors.push((
        "proxy with password".into(),
        build_err(client("https://h").proxy("http://u:S3CR3T@[x")).unwrap_err(),
    ));
    errors.push((
        "secret with a newline".into(),
        build_err(Client::builder().credentials(Credentials::access_key(ID, "S3CR3T\n")))
            .unwrap_err(),
    ));
    errors.push((
        "ini with an unsupported type".into(),
        Credentials::from_ini_str(
            &format!("[default]\ntype = rsa_key_pair\naccess_key_id = {ID}\naccess_key_secret = {SECRET}\n"),
            "default",
        )
        .unwrap_err(),
    ));
    errors.push((
        "config.json that is not JSON".into(),
        Credentials::from_cli_config_str(&format!("{{\"profiles\": [{SECRET}"), None).unwrap_err(),
    ));

    assert!(errors.len() >= 22, "{}", errors.len());
    for (what, e) in &errors {
        assert_error_clean(what, e);
    }

    // Debug of everything that holds credentials.
    let builder = client(&emu.endpoint()).proxy("http://u:S3CR3T@proxy:1");
    assert_clean("ClientBuilder", &format!("{builder:?}"));
    assert_clean("Client", &format!("{ok:?}"));
    assert_clean("Credentials", &format!("{:?} {:#?}", creds(), creds()));
    let sig = rpc_v1(
        "POST",
        &[("SecurityToken", TOKEN), ("AccessKeyId", ID)],
        SECRET,
    );
    assert_clean("RpcV1Signature", &format!("{sig:?}"));
}
