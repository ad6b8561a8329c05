//! What the client makes of odd answers and failed connections: every case
//! is a typed error, none panics, and no secret shows in any of them.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{
    canned_server, canned_server_recording, client_at, http_response, within, EVENT_WAIT, MARGIN,
};
use ens_upload::{
    Client, Credentials, Error, PrepareUploadRequest, SignatureDiagnosis, TransportKind,
    MAX_RESPONSE_BYTES,
};

const SECRET: &str = "SECRET-DO-NOT-LEAK";

fn call(endpoint: &str) -> Error {
    let e = client_at(endpoint)
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(SECRET), "secret leaked: {shown}");
    e
}

#[test]
fn a_redirect_is_an_error_and_is_not_followed() {
    let (target, target_seen) = canned_server_recording(http_response("200 OK", "", b"{}"), 1);
    let (endpoint, seen) = canned_server_recording(
        http_response(
            "302 Found",
            &format!("Location: {target}/elsewhere\r\n"),
            b"",
        ),
        2,
    );
    let e = call(&endpoint);
    match &e {
        Error::Redirect {
            status, location, ..
        } => {
            assert_eq!(*status, 302);
            assert_eq!(
                location.as_deref(),
                Some(format!("{target}/elsewhere").as_str())
            );
        }
        other => panic!("expected Redirect, got {other:?}"),
    }
    assert!(e.to_string().contains("not followed"), "{e}");
    assert!(seen.recv_timeout(EVENT_WAIT).is_ok());
    assert!(
        seen.recv_timeout(Duration::from_millis(300)).is_err(),
        "asked once"
    );
    assert!(
        target_seen
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "never followed"
    );
}

#[test]
fn non_json_and_html_answers_are_decode_errors() {
    let e = call(&canned_server(
        http_response("200 OK", "", b"this is not json"),
        1,
    ));
    match &e {
        Error::Decode {
            status,
            body_prefix,
            ..
        } => {
            assert_eq!(*status, 200);
            assert_eq!(body_prefix, "this is not json");
        }
        other => panic!("{other:?}"),
    }

    let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
    let e = call(&canned_server(
        http_response("502 Bad Gateway", "Content-Type: text/html\r\n", html),
        1,
    ));
    match &e {
        Error::Decode {
            status,
            body_prefix,
            reason,
            ..
        } => {
            assert_eq!(*status, 502);
            assert!(body_prefix.starts_with("<html>"), "{body_prefix}");
            assert!(reason.contains("JSON error shape"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.http_status(), Some(502));

    // Binary garbage is reported lossily, never panicked on.
    let e = call(&canned_server(
        http_response("200 OK", "", &[0xff, 0xfe, 0x00, 0x80]),
        1,
    ));
    assert!(matches!(e, Error::Decode { status: 200, .. }), "{e:?}");

    // Valid JSON without the fields PrepareUpload returns.
    let e = call(&canned_server(
        http_response("200 OK", "", br#"{"RequestId":"r","BucketName":"bkt"}"#),
        1,
    ));
    match &e {
        Error::Decode { reason, .. } => assert!(reason.contains("Endpoint"), "{reason}"),
        other => panic!("{other:?}"),
    }

    // An error status with JSON but no Code.
    let e = call(&canned_server(
        http_response("500 Internal Server Error", "", br#"{"oops":1}"#),
        1,
    ));
    match &e {
        Error::Decode {
            status: 500,
            reason,
            ..
        } => assert!(reason.contains("Code"), "{reason}"),
        other => panic!("{other:?}"),
    }

    // A long body is cut to a short prefix in the error.
    let long = vec![b'x'; 10_000];
    let e = call(&canned_server(http_response("200 OK", "", &long), 1));
    match &e {
        Error::Decode { body_prefix, .. } => assert_eq!(body_prefix.len(), 256),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_body_over_one_mib_is_refused() {
    let body = vec![b' '; MAX_RESPONSE_BYTES as usize + 1];
    let e = call(&canned_server(http_response("200 OK", "", &body), 1));
    match &e {
        Error::ResponseTooLarge { status, limit, .. } => {
            assert_eq!((*status, *limit), (200, 1 << 20));
        }
        other => panic!("{other:?}"),
    }
    // Exactly at the limit is read (and then judged as JSON).
    let mut body = br#"{"RequestId":"r","BucketName":"bkt","Endpoint":"e"}"#.to_vec();
    body.resize(MAX_RESPONSE_BYTES as usize, b' ');
    let out = client_at(&canned_server(http_response("200 OK", "", &body), 1))
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert_eq!(
        (
            out.request_id.as_str(),
            out.bucket_name.as_str(),
            out.endpoint.as_str()
        ),
        ("r", "bkt", "e")
    );
}

#[test]
fn signature_mismatch_shows_both_canonicalizations_with_tokens_redacted() {
    let server_sts = "POST&%2F&AccessKeyId%3Did%26Action%3DPrepareUpload%26SecurityToken%3DTOKEN-DO-NOT-LEAK%26Version%3D2017-11-10";
    let body = format!(
        r#"{{"RequestId":"R1","HostId":"h","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation. server string to sign is:{server_sts}","Recommend":"r"}}"#
    );
    let endpoint = canned_server(http_response("400 Bad Request", "", body.as_bytes()), 1);
    let client = Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::sts("id", SECRET, "TOKEN-DO-NOT-LEAK"))
        .build()
        .unwrap();
    let e = client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    let api = e.api().unwrap();
    match &api.signature_diagnosis {
        Some(SignatureDiagnosis::CanonicalizationDiffers { client, server }) => {
            assert!(
                client.starts_with("POST&%2F&AccessKeyId%3Did%26Action%3DPrepareUpload"),
                "{client}"
            );
            assert!(client.contains("SecurityToken%3D<redacted>"), "{client}");
            assert!(
                server.contains("SecurityToken%3D<redacted>%26Version"),
                "{server}"
            );
        }
        other => panic!("{other:?}"),
    }
    let shown = format!("{e} {e:?}");
    assert!(
        shown.contains("client string to sign") && shown.contains("server string to sign"),
        "{shown}"
    );
    assert!(
        !shown.contains("TOKEN-DO-NOT-LEAK") && !shown.contains(SECRET),
        "{shown}"
    );
}

#[test]
fn connection_refused_is_a_connect_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = call(&format!("http://127.0.0.1:{port}"));
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{e:?}"
    );
}

/// A server that accepts one connection and says nothing on it until
/// `release` is dropped (the end of the test).
fn silent_server() -> (String, std::sync::mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _conn = listener.incoming().next();
        let _ = released.recv();
    });
    (endpoint, release)
}

#[test]
fn a_silent_server_is_a_timeout_within_the_read_timeout() {
    let (endpoint, _release) = silent_server();
    let read_timeout = Duration::from_millis(300);
    let client = Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::access_key("id", SECRET))
        .read_timeout(read_timeout)
        .retries(0)
        .build()
        .unwrap();
    // The server stays silent until the test ends: without the read
    // timeout this never returns.
    let e = within(read_timeout + MARGIN, move || {
        client
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err()
    });
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn the_call_timeout_bounds_the_whole_call() {
    // Headers arrive at once, the body trickles (for 100 s, or until the
    // client hangs up): only the overall limit stops it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Some(Ok(mut s)) = listener.incoming().next() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            for _ in 0..1000 {
                if s.write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let call_timeout = Duration::from_millis(500);
    let client = Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::access_key("id", SECRET))
        .call_timeout(call_timeout)
        .build()
        .unwrap();
    let e = within(call_timeout + MARGIN, move || {
        client
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err()
    });
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn an_unresolvable_host_is_a_dns_error() {
    let client = Client::builder()
        .endpoint("http://no-such-host.invalid")
        .credentials(Credentials::access_key("id", SECRET))
        .no_proxy()
        .retries(2)
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    let e = client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Dns,
                ..
            }
        ),
        "{e:?}"
    );
    // Retried like a failed connection: a device's resolver may not be up yet.
    assert_eq!(e.attempts(), 3, "{e:?}");
}

#[test]
fn tls_to_a_plain_http_server_is_a_tls_error() {
    // A server that talks plain HTTP at once, whatever it is sent.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let https = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::Write;
        if let Some(Ok(mut s)) = listener.incoming().next() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let e = call(&https);
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Tls,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn an_explicit_proxy_carries_the_request() {
    // A proxy that accepts the CONNECT tunnel, then answers the request inside it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let (tx, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let Some(Ok(s)) = listener.incoming().next() else {
            return;
        };
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut read_head = || {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    return head;
                }
                head.push_str(&line);
            }
        };
        let connect = read_head();
        let _ = w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        let inner = read_head();
        // Handed over before the answer, so it is there when the call returns.
        let _ = tx.send((connect, inner));
        let ok = br#"{"RequestId":"r","BucketName":"bkt","Endpoint":"e"}"#;
        let _ = w.write_all(&http_response("200 OK", "", ok));
    });
    let client = Client::builder()
        .endpoint("http://ens.example.internal:8080")
        .credentials(Credentials::access_key("id", SECRET))
        .proxy(proxy)
        .build()
        .unwrap();
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    let (connect, inner) = seen.recv_timeout(EVENT_WAIT).unwrap();
    assert!(
        connect.starts_with("CONNECT ens.example.internal:8080 "),
        "{connect}"
    );
    assert!(inner.starts_with("POST /?"), "{inner}");
    assert!(inner.contains("x-acs-action: PrepareUpload"), "{inner}");
}

#[test]
fn build_refuses_bad_configuration() {
    let with = |b: ens_upload::ClientBuilder| {
        b.credentials(Credentials::access_key("id", SECRET))
            .build()
            .unwrap_err()
    };
    for url in [
        "ens.aliyuncs.com",
        "ftp://x",
        "https://x/path",
        "https://x:99999",
        "https://u:p@x",
    ] {
        let e = with(Client::builder().endpoint(url));
        assert!(matches!(e, Error::Config { .. }), "{url}: {e:?}");
    }
    let e = with(Client::builder().read_timeout(Duration::ZERO));
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    // A deadline must fit the clock: Duration::MAX is refused, not a panic.
    for b in [
        Client::builder().call_timeout(Duration::MAX),
        Client::builder().read_timeout(ens_upload::MAX_TIMEOUT + Duration::from_secs(1)),
        Client::builder().connect_timeout(Duration::MAX),
    ] {
        let e = with(b);
        assert!(
            matches!(e, Error::Config { .. }) && e.to_string().contains("at most 86400 s"),
            "{e}"
        );
    }
    Client::builder()
        .call_timeout(ens_upload::MAX_TIMEOUT)
        .credentials(Credentials::access_key("id", SECRET))
        .build()
        .unwrap();
    let e = with(Client::builder().proxy("http://user:pw-DO-NOT-LEAK@[broken"));
    assert!(
        matches!(e, Error::Config { .. }) && !e.to_string().contains("pw-DO-NOT-LEAK"),
        "{e}"
    );
    let e = with(Client::builder().add_ca_file("/nonexistent/ca.pem"));
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    let dir = common::TempDir::new("ca");
    let not_pem = dir.write("not.pem", "hello");
    let e = with(Client::builder().ca_file_only(&not_pem));
    assert!(e.to_string().contains("no PEM certificate"), "{e}");

    let e = Client::builder()
        .credentials(Credentials::access_key("", "x"))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Credentials { .. }), "{e:?}");
    let e = Client::builder()
        .credentials(Credentials::access_key("id", "bad\nsecret"))
        .build()
        .unwrap_err();
    assert!(
        matches!(e, Error::Credentials { .. }) && !e.to_string().contains("bad\nsecret"),
        "{e:?}"
    );
}

#[test]
fn a_ca_file_is_accepted_beside_or_instead_of_the_bundled_roots() {
    let pem = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/test-ca.pem");
    for b in [
        Client::builder().add_ca_file(pem),
        Client::builder().ca_file_only(pem),
    ] {
        let c = b
            .credentials(Credentials::access_key("id", SECRET))
            .build()
            .unwrap();
        assert_eq!(c.endpoint(), "https://ens.aliyuncs.com");
    }
}

#[test]
fn debug_output_never_holds_secrets() {
    let b = Client::builder()
        .credentials(Credentials::sts("id", SECRET, "TOKEN-DO-NOT-LEAK"))
        .proxy("http://user:PROXY-PW@proxy:3128");
    let c = b.clone().build().unwrap();
    let shown = format!("{b:?} {c:?}");
    for s in [SECRET, "TOKEN-DO-NOT-LEAK", "PROXY-PW"] {
        assert!(!shown.contains(s), "{s} in {shown}");
    }
    assert!(shown.contains("id"), "{shown}");
}

#[test]
fn what_the_server_echoes_back_never_carries_the_token_the_secret_or_the_signature() {
    const TOKEN: &str = "CAIS+TOKEN/DO=NOT&LEAK";
    let encoded = ens_upload::sign::percent_encode(TOKEN);
    let sts = || Credentials::sts("STS.id", SECRET, TOKEN);
    let client = |endpoint: &str| {
        Client::builder()
            .endpoint(endpoint)
            .credentials(sts())
            .read_timeout(Duration::from_secs(5))
            .retries(0)
            .build()
            .unwrap()
    };
    // A redirect echoing the signed URL, and a proxy's page quoting it.
    let echoed = format!(
        "http://elsewhere/?AccessKeyId=STS.id&SecurityToken={encoded}&Signature=c2lnbmVk%3D&Timestamp=1"
    );
    let redirect = canned_server(
        http_response("301 Moved", &format!("Location: {echoed}\r\n"), b""),
        1,
    );
    let page = format!("<html>Blocked: POST {echoed} (token {TOKEN}, key {SECRET})</html>");
    let html = canned_server(http_response("403 Forbidden", "", page.as_bytes()), 1);
    for endpoint in [redirect, html] {
        let e = client(&endpoint)
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err();
        assert!(
            matches!(e, Error::Redirect { .. } | Error::Decode { .. }),
            "{e:?}"
        );
        let shown = format!("{e} {e:?}");
        for leak in [TOKEN, encoded.as_str(), SECRET, "c2lnbmVk"] {
            assert!(!shown.contains(leak), "{leak} leaked: {shown}");
        }
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
