//! Answers that try to trick the client: a PrepareUpload answer naming a
//! bucket or endpoint that would smuggle text into a URL or send the
//! credentials elsewhere, an OSS host whose clock is absurd, tokens echoed
//! in an error's code or request id.

mod common;

use std::time::Duration;

use ens_upload::emulator::{Emulator, TEST_SECURITY_TOKEN};
use ens_upload::{Client, Error, PrepareUploadRequest, UploadOptions};

use common::{canned_server, http_response};

/// A one-shot ENS endpoint answering PrepareUpload with this bucket and endpoint.
fn prepare_answer(bucket: &str, endpoint: &str) -> String {
    let body = serde_json::json!({
        "RequestId": "R-1",
        "BucketName": bucket,
        "Endpoint": endpoint,
    })
    .to_string();
    canned_server(
        http_response(
            "200 OK",
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        ),
        1,
    )
}

fn client(endpoint: &str, emu: &Emulator) -> Client {
    Client::builder()
        .endpoint(endpoint)
        .credentials(emu.sts_credentials())
        .retries(0)
        .build()
        .unwrap()
}

#[test]
fn prepare_upload_alone_refuses_what_the_upload_path_refuses() {
    let emu = Emulator::start().unwrap();
    for (bucket, endpoint) in [
        ("../x\r\nX: 1", "oss-cn-hangzhou.aliyuncs.com"),
        ("test-ok", "user:pw@evil.example/#"),
        ("test-ok", "ftp://oss.example"),
        ("test-ok", "oss.example/path"),
    ] {
        let url = prepare_answer(bucket, endpoint);
        let e = client(&url, &emu)
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err();
        assert!(
            matches!(e, Error::Decode { .. }),
            "{bucket:?} {endpoint:?}: {e:?}"
        );
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}

#[test]
fn an_answer_naming_another_host_gets_no_signed_upload() {
    // ENS on one loopback port answers an endpoint on another port.
    let emu = Emulator::builder()
        .oss_endpoint("127.0.0.1:9")
        .start()
        .unwrap();
    let data = [1u8; 10];
    let e = client(&emu.endpoint(), &emu)
        .upload_reader(
            &PrepareUploadRequest::new("test"),
            "k",
            &data[..],
            10,
            &UploadOptions::new(),
        )
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("127.0.0.1:9") && text.contains("allow_upload_host"),
        "{text}"
    );
    // Only PrepareUpload reached the emulator; nothing went to port 9.
    assert_eq!(emu.requests().len(), 1);
    for host in ["localhost", "0.0.0.0"] {
        let port = emu.addr().port();
        let emu2 = Emulator::builder()
            .oss_endpoint(format!("{host}:{port}"))
            .start()
            .unwrap();
        let e = client(&emu2.endpoint(), &emu2)
            .upload_reader(
                &PrepareUploadRequest::new("test"),
                "k",
                &data[..],
                10,
                &UploadOptions::new(),
            )
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidInput { field, .. } if field == "upload endpoint"),
            "{host}: {e:?}"
        );
    }
}

#[test]
fn an_allowed_host_receives_the_upload() {
    // Two emulators share keys: ENS on one, OSS answers on the other.
    let oss = Emulator::start().unwrap();
    let ens = Emulator::builder()
        .oss_endpoint(oss.addr().to_string())
        .start()
        .unwrap();
    let data = [1u8; 10];
    let out = client(&ens.endpoint(), &ens)
        .upload_reader(
            &PrepareUploadRequest::new("test"),
            "k",
            &data[..],
            10,
            &UploadOptions::new().allow_upload_host(oss.addr().to_string()),
        )
        .unwrap();
    assert_eq!(out.size, 10);
}

#[test]
fn an_oss_date_from_2090_does_not_move_the_clock_ens_signs_with() {
    let oss = canned_server(
        http_response(
            "500 Internal Server Error",
            "Date: Sun, 01 Jan 2090 00:00:00 GMT\r\nContent-Type: application/xml\r\n",
            b"<Error><Code>InternalError</Code><Message>m</Message></Error>",
        ),
        1,
    );
    let oss_addr = oss.trim_start_matches("http://").to_owned();
    let ens = Emulator::builder()
        .oss_endpoint(oss_addr.clone())
        .start()
        .unwrap();
    let c = Client::builder()
        .endpoint(ens.endpoint())
        .credentials(ens.credentials())
        .retries(0)
        .read_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let data = [1u8; 10];
    let e = c
        .upload_reader(
            &PrepareUploadRequest::new("test"),
            "k",
            &data[..],
            10,
            &UploadOptions::new().allow_upload_host(oss_addr),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("InternalError"), "{e}");
    assert_eq!(c.clock_offset(), 0, "an OSS host's Date is not trusted");
    c.prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
}

#[test]
fn tokens_echoed_in_any_error_field_are_redacted() {
    let emu = Emulator::start().unwrap();
    let body = format!(
        r#"{{"RequestId":"{t}","Code":"Bad{t}","Message":"m {t}","HostId":"{t}","Recommend":"{t}"}}"#,
        t = TEST_SECURITY_TOKEN
    );
    let url = canned_server(
        http_response(
            "400 Bad Request",
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        ),
        1,
    );
    let e = client(&url, &emu)
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(TEST_SECURITY_TOKEN), "{shown}");
    let api = e.api().unwrap();
    for field in [&api.code, &api.request_id, &api.host_id, &api.recommend] {
        assert!(field.contains("<redacted>"), "{field}");
    }
}

#[test]
fn a_200_whose_body_is_an_error_is_that_error_and_retried_when_transient() {
    let emu = Emulator::start().unwrap();
    let data = vec![3u8; 300 * 1024];
    let options = UploadOptions::new()
        .part_size(100 * 1024)
        .multipart_threshold(100 * 1024);
    let upload = |c: &Client| {
        c.upload_reader(
            &PrepareUploadRequest::new("test"),
            "late/failure.bin",
            &data[..],
            data.len() as u64,
            &options,
        )
    };
    let no_retry = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .retries(0)
        .build()
        .unwrap();
    // Played on the first OSS data request: a part.
    emu.inject(ens_upload::emulator::Fault::OssErrorIn200, 1);
    let e = upload(&no_retry).unwrap_err();
    assert_eq!(
        (e.code(), e.http_status()),
        (Some("InternalError"), Some(200)),
        "{e}"
    );
    // With retries, the transient error goes away.
    emu.inject(ens_upload::emulator::Fault::OssErrorIn200, 1);
    let retrying = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    let out = upload(&retrying).unwrap();
    assert_eq!(out.size, data.len() as u64);
}

#[test]
fn a_refusal_before_a_large_body_comes_back_as_itself_without_the_body() {
    // A bucket that refuses V1: the PutObject is refused on its headers.
    let emu = Emulator::builder().oss_refuse_v1().start().unwrap();
    let data = vec![5u8; 2 << 20];
    let e = client(&emu.endpoint(), &emu)
        .upload_reader(
            &PrepareUploadRequest::new("test"),
            "big.bin",
            &data[..],
            data.len() as u64,
            &UploadOptions::new(),
        )
        .unwrap_err();
    assert_eq!((e.http_status(), e.attempts()), (Some(403), 1), "{e}");
    assert_eq!(e.api().unwrap().ec, "0002-00000080", "{e}");
    let put = emu
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("the PutObject reached the emulator");
    assert_eq!(put.header("expect"), Some("100-continue"));
    assert_eq!(put.body_len, 0, "the body was not sent");
    // With the go-ahead, the same size goes through.
    let ok = Emulator::start().unwrap();
    let out = client(&ok.endpoint(), &ok)
        .upload_reader(
            &PrepareUploadRequest::new("test"),
            "big.bin",
            &data[..],
            data.len() as u64,
            &UploadOptions::new(),
        )
        .unwrap();
    assert_eq!(out.size, data.len() as u64);
}
