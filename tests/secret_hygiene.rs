//! A recognisable secret and security token are driven through every error
//! path and every Debug/Display: they must never come out.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{canned_server, canned_server_recording, http_response, TempDir};
use ens_upload::emulator::{Emulator, Fault};
use ens_upload::sign::rpc_v1;
use ens_upload::upload::MIN_PART_SIZE;
use ens_upload::{
    Client, ClientBuilder, Credentials, Error, PrepareUploadRequest, ProgressAction,
    SignatureDiagnosis, TransportKind, UploadOptions, UploadResult,
};

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
    // And every error it says it was caused by.
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        assert_clean(what, &format!("{s} {s:?} {s:#?}"));
        source = s.source();
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

// ---------------------------------------------------------------------------
// Uploads: the OSS side of the same credentials.
// ---------------------------------------------------------------------------

/// A file of `len` bytes in `dir`.
fn file(dir: &TempDir, name: &str, len: usize) -> std::path::PathBuf {
    dir.write(
        name,
        (0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>(),
    )
}

/// Multipart from 100 KiB, in 100 KiB parts.
fn parts() -> UploadOptions {
    UploadOptions::new()
        .part_size(MIN_PART_SIZE)
        .multipart_threshold(MIN_PART_SIZE)
}

/// The emulator knowing our STS credentials, handing out `oss` (its own
/// address when `None`) as the upload endpoint.
fn sts_emulator(oss: Option<&str>) -> Emulator {
    let b = Emulator::builder().sts(ID, SECRET, TOKEN);
    match oss {
        Some(o) => b.oss_endpoint(o.trim_start_matches("http://")),
        None => b,
    }
    .start()
    .unwrap()
}

fn upload(
    client: &Client,
    path: &std::path::Path,
    options: &UploadOptions,
) -> Result<UploadResult, Error> {
    client.upload_file(
        &PrepareUploadRequest::new("test"),
        "k/obj.bin",
        path,
        options,
    )
}

/// OSS's XML error with these fields.
fn oss_error_xml(status: &str, code: &str, message: &str, string_to_sign: Option<&str>) -> Vec<u8> {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <RequestId>R-1</RequestId><HostId>b.oss</HostId>"
    );
    if let Some(sts) = string_to_sign {
        body.push_str(&format!("<StringToSign>{sts}</StringToSign>"));
    }
    body.push_str("</Error>");
    http_response(status, "Content-Type: application/xml\r\n", body.as_bytes())
}

/// Uploads an empty file (no body, so a canned answer never races an
/// unread body) to an OSS endpoint answering `answer` to every request.
fn upload_to_canned(answer: Vec<u8>) -> Result<UploadResult, Error> {
    let dir = TempDir::new("canned");
    let empty = file(&dir, "empty.bin", 0);
    let oss = canned_server(answer, 4);
    let emu = sts_emulator(Some(&oss));
    let c = client(&emu.endpoint()).build().unwrap();
    upload(
        &c,
        &empty,
        &UploadOptions::new().allow_upload_host("127.0.0.1"),
    )
}

#[test]
fn no_upload_error_path_leaks_the_secret_or_token() {
    let dir = TempDir::new("paths");
    let small = file(&dir, "small.bin", 1000);
    let multi = file(&dir, "multi.bin", 2 * MIN_PART_SIZE as usize + 5);
    let emu = sts_emulator(None);
    let ok = client(&emu.endpoint()).build().unwrap();
    let stored = upload(&ok, &small, &UploadOptions::new()).expect("an STS upload");

    let mut errors: Vec<(String, Error)> = Vec::new();
    let mut push = |what: &str, r: Result<UploadResult, Error>, expected: fn(&Error) -> bool| {
        let e = r.expect_err(what);
        assert!(expected(&e), "{what}: unexpected {e:?}");
        errors.push((what.to_owned(), e));
    };

    // Integrity: the object's and a part's CRC-64 answered wrong.
    emu.inject(Fault::OssBadCrc, 1);
    push(
        "integrity of the object",
        upload(&ok, &small, &UploadOptions::new()),
        |e| matches!(e, Error::Integrity { what, .. } if what == "object"),
    );
    emu.inject(Fault::OssBadCrc, 1);
    push(
        "integrity of a part",
        upload(&ok, &multi, &parts()),
        |e| matches!(e, Error::Integrity { what, .. } if what.starts_with("part ")),
    );

    // Cancelled from the progress callback, with a checkpoint kept.
    let ckpt = dir.join("cancel.ckpt");
    push(
        "cancelled",
        upload(
            &ok,
            &multi,
            &parts()
                .checkpoint(&ckpt)
                .on_progress(|done, _| ProgressAction::from(done == 0)),
        ),
        |e| matches!(e, Error::Cancelled { .. }),
    );

    // The file: missing, a directory.
    push(
        "missing file",
        upload(&ok, &dir.join("missing.bin"), &UploadOptions::new()),
        |e| matches!(e, Error::LocalIo { kind, .. } if *kind == std::io::ErrorKind::NotFound),
    );
    push(
        "a directory",
        upload(&ok, dir.path(), &UploadOptions::new()),
        |e| matches!(e, Error::LocalIo { .. }),
    );
    // The checkpoint: its directory missing (written after the first
    // request), its "directory" a file (read before).
    push(
        "checkpoint in a missing directory",
        upload(
            &ok,
            &multi,
            &parts().checkpoint(dir.join("no/such/dir/c.ckpt")),
        ),
        |e| matches!(e, Error::LocalIo { .. }),
    );
    push(
        "checkpoint under a file",
        upload(&ok, &multi, &parts().checkpoint(small.join("c.ckpt"))),
        |e| matches!(e, Error::LocalIo { .. }),
    );

    // Transport: reset mid-body, silence past the stall timeout, nothing
    // listening at the OSS endpoint.
    emu.inject(Fault::OssResetAfterBytes(10), 1);
    push(
        "reset after 10 body bytes",
        upload(&ok, &small, &UploadOptions::new()),
        |e| matches!(e, Error::Transport { .. }),
    );
    emu.inject(Fault::OssSlow(Duration::from_millis(800)), 1);
    push(
        "stalled",
        upload(
            &ok,
            &small,
            &UploadOptions::new().stall_timeout(Duration::from_millis(200)),
        ),
        |e| {
            matches!(
                e,
                Error::Transport {
                    kind: TransportKind::Timeout,
                    ..
                }
            )
        },
    );
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let to_closed = sts_emulator(Some(&closed));
    push(
        "OSS refused",
        upload(
            &client(&to_closed.endpoint()).build().unwrap(),
            &small,
            &UploadOptions::new().allow_upload_host("127.0.0.1"),
        ),
        |e| matches!(e, Error::Transport { .. }),
    );

    // OSS's 5xx, from the emulator and as a gateway's HTML page.
    emu.inject(Fault::OssInternalError, 1);
    push("OSS 500", upload(&ok, &small, &UploadOptions::new()), |e| {
        e.http_status() == Some(500) && e.code() == Some("InternalError")
    });
    push(
        "OSS 502 HTML",
        upload_to_canned(http_response(
            "502 Bad Gateway",
            "Content-Type: text/html\r\n",
            b"<html><body>bad gateway</body></html>",
        )),
        |e| matches!(e, Error::Decode { status: 502, .. }),
    );

    // OSS's XML errors, one quoting the token in its message the way OSS
    // quotes a string to sign.
    push(
        "OSS NoSuchBucket",
        upload_to_canned(oss_error_xml(
            "404 Not Found",
            "NoSuchBucket",
            "no bucket",
            None,
        )),
        |e| e.code() == Some("NoSuchBucket"),
    );
    push(
        "OSS AccessDenied quoting the token",
        upload_to_canned(oss_error_xml(
            "403 Forbidden",
            "AccessDenied",
            &format!("denied for\nx-oss-security-token:{TOKEN}\n/b/k"),
            None,
        )),
        |e| e.code() == Some("AccessDenied"),
    );

    // SignatureDoesNotMatch: an OSS that knows another secret for our key
    // (it quotes our string to sign, token included: WrongSecret), and one
    // that signed another string, token included (both shown, redacted).
    let other_oss = Emulator::builder()
        .sts(ID, "S3CR3T-OTHER", TOKEN)
        .start()
        .unwrap();
    let to_other = sts_emulator(Some(&other_oss.endpoint()));
    push(
        "OSS SignatureDoesNotMatch, wrong secret",
        upload(
            &client(&to_other.endpoint()).build().unwrap(),
            &small,
            &UploadOptions::new().allow_upload_host("127.0.0.1"),
        ),
        |e| {
            e.api().is_some_and(|a| {
                a.code == "SignatureDoesNotMatch"
                    && a.signature_diagnosis == Some(SignatureDiagnosis::WrongSecret)
            })
        },
    );
    let theirs =
        format!("PUT\n\napplication/octet-stream\nDate\nx-oss-security-token:{TOKEN}\n/other/k");
    let differs = upload_to_canned(oss_error_xml(
        "403 Forbidden",
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match",
        Some(&theirs),
    ));
    match differs
        .as_ref()
        .map_err(|e| e.api().and_then(|a| a.signature_diagnosis.clone()))
    {
        Err(Some(SignatureDiagnosis::CanonicalizationDiffers { client, server })) => {
            assert!(server.contains("/other/k"), "{server}");
            assert!(
                client.contains("x-oss-security-token:<redacted>"),
                "{client}"
            );
        }
        other => panic!("expected CanonicalizationDiffers, got {other:?}"),
    }
    push(
        "OSS SignatureDoesNotMatch, canonicalization",
        differs,
        |_| true,
    );

    // A 3xx from OSS: an error, and the place it points at hears nothing.
    let (elsewhere, followed) = canned_server_recording(http_response("200 OK", "", b""), 1);
    push(
        "OSS 307",
        upload_to_canned(http_response(
            "307 Temporary Redirect",
            &format!("Location: {elsewhere}/test/k/obj.bin\r\n"),
            b"",
        )),
        |e| matches!(e, Error::Redirect { status: 307, .. }),
    );
    assert!(
        followed.recv_timeout(Duration::from_millis(300)).is_err(),
        "an OSS 3xx was followed"
    );

    assert!(errors.len() >= 17, "{}", errors.len());
    for (what, e) in &errors {
        assert_error_clean(what, e);
    }

    // Debug of the options and the result.
    let options = parts()
        .checkpoint(dir.join("c.ckpt"))
        .content_type("video/mp4")
        .stall_timeout(Duration::from_secs(1))
        .on_progress(|_, _| ProgressAction::Continue);
    assert_clean("UploadOptions", &format!("{options:?} {options:#?}"));
    assert_clean("UploadResult", &format!("{stored:?} {stored:#?}"));
    let multi_stored = upload(&ok, &multi, &parts()).unwrap();
    assert_clean("UploadResult", &format!("{multi_stored:?}"));
}

/// Server text that echoes the security token (a gateway's error page
/// showing the request it refused, as debugging proxies do; an OSS
/// message naming the token inline) must not carry it into the error.
/// The body's start kept by `Error::Decode` and the messages are server
/// text: the client's own secret and token are scrubbed from them.
#[test]
fn server_text_echoing_the_token_does_not_leak_it() {
    let page = format!(
        "<html><body><pre>PUT /test/k HTTP/1.1\nx-oss-security-token: {TOKEN}\n</pre></body></html>"
    );
    let e = upload_to_canned(http_response(
        "502 Bad Gateway",
        "Content-Type: text/html\r\n",
        page.as_bytes(),
    ))
    .expect_err("a 502");
    assert!(matches!(e, Error::Decode { status: 502, .. }), "{e:?}");
    let page_error = e;

    let e = upload_to_canned(oss_error_xml(
        "403 Forbidden",
        "InvalidSecurityToken",
        &format!("The security token {TOKEN} has expired (signed with {SECRET})"),
        None,
    ))
    .expect_err("a 403");
    assert_eq!(e.code(), Some("InvalidSecurityToken"));
    let message_error = e;

    // The same on the RPC side, where the token is in the query.
    let page =
        format!("<html>502: POST /?Action=PrepareUpload&SecurityToken={TOKEN}&Version=x</html>");
    let endpoint = canned_server(http_response("502 Bad Gateway", "", page.as_bytes()), 1);
    let e = client(&endpoint)
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .expect_err("a 502");
    assert!(matches!(e, Error::Decode { status: 502, .. }), "{e:?}");

    assert_error_clean("RPC 502 page echoing the token", &e);
    assert_error_clean("OSS message naming the token", &message_error);
    assert_error_clean("OSS 502 page echoing the token", &page_error);
}

/// A plain-http endpoint redirected to https, the whole URL kept (what a
/// proxy or load balancer does): the `Location` holds the signed query,
/// `SecurityToken` included. The redirect is not followed, and the error
/// must not show the token.
#[test]
fn a_redirect_to_https_keeping_the_query_does_not_leak_the_token() {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut b = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&b[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let target = text.split(' ').nth(1).unwrap_or("/").to_owned();
            let _ = s.write_all(&http_response(
                "301 Moved Permanently",
                &format!("Location: https://{addr}{target}\r\n"),
                b"",
            ));
        }
    });
    let e = client(&format!("http://{addr}"))
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .expect_err("a 301");
    assert!(matches!(e, Error::Redirect { status: 301, .. }), "{e:?}");
    assert_error_clean("redirect keeping the signed query", &e);
}

/// An error keeps the first 256 bytes of a body it could not decode; a
/// token that starts before byte 256 and ends after it must not show in
/// part either (the scrub runs on the prefix, where only the token's start
/// is left: `response::redact_cut_secret`).
#[test]
fn a_token_cut_by_the_body_prefix_does_not_leak_in_part() {
    for at in [240, 250, 255] {
        let header = "x-oss-security-token: ";
        let mut page = " ".repeat(at - header.len()).into_bytes();
        page.extend_from_slice(format!("{header}{TOKEN}").as_bytes());
        assert_eq!(&page[at..at + 5], b"T0K3N");
        let e = upload_to_canned(http_response("502 Bad Gateway", "", &page)).expect_err("a 502");
        assert_error_clean(&format!("OSS 502 page with the token at byte {at}"), &e);
    }
}
