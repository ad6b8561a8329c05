//! TLS end to end against a local rustls server with a test CA: the
//! backend compiled in (rustls or native-tls) verifies the server with the
//! CA file, refuses it without, rustls without `bundled-roots` trusts the
//! system bundle, and a build without TLS refuses https.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use ens_upload::{Client, Credentials, Error, PrepareUploadRequest};

const CERT: &str = include_str!("data/test-server.pem");
const KEY: &str = include_str!("data/test-server.key");

/// Serves `count` TLS connections with a fixed PrepareUpload answer.
fn tls_server(count: usize) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rustls::pki_types::CertificateDer::from(pem_der(CERT, "CERTIFICATE"));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pem_der(KEY, "PRIVATE KEY").into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().take(count) {
            let Ok(tcp) = tcp else { continue };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            if buf.is_empty() {
                continue; // the client refused our certificate
            }
            let body = br#"{"RequestId":"tls-1","BucketName":"test-abc","Endpoint":"eos.example"}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(head.as_bytes());
            let _ = tls.write_all(body);
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    format!("https://localhost:{port}")
}

/// The DER inside the first PEM block labelled `label`.
fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).unwrap() + begin.len();
    let stop = pem.find(&end).unwrap();
    let b64: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

fn builder(endpoint: &str) -> ens_upload::ClientBuilder {
    Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::access_key("id", "secret"))
        .connect_timeout(Duration::from_secs(3))
        .retries(0)
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
#[test]
fn the_compiled_backend_verifies_with_the_ca_file_and_refuses_without() {
    use ens_upload::TransportKind;
    const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/test-ca.pem");

    // Trusting only the test CA: the whole call succeeds over TLS.
    let endpoint = tls_server(1);
    let out = builder(&endpoint)
        .ca_file_only(CA)
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert_eq!(
        (out.request_id.as_str(), out.bucket_name.as_str()),
        ("tls-1", "test-abc")
    );

    // The test CA beside the backend's own roots works too.
    let endpoint = tls_server(1);
    builder(&endpoint)
        .add_ca_file(CA)
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();

    // Without the CA the server's certificate is refused, as a TLS error.
    let endpoint = tls_server(1);
    let e = builder(&endpoint)
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
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
    let expected = if cfg!(feature = "native-tls") {
        "native-tls"
    } else {
        "rustls"
    };
    assert_eq!(ens_upload::TLS_BACKEND, expected);

    // rustls without the bundled roots trusts the system's CA bundle, which
    // SSL_CERT_FILE names (set last: nothing else in this binary runs then).
    #[cfg(all(
        feature = "rustls",
        not(feature = "bundled-roots"),
        not(feature = "native-tls")
    ))]
    {
        std::env::set_var("SSL_CERT_FILE", CA);
        let endpoint = tls_server(1);
        let out = builder(&endpoint)
            .build()
            .unwrap()
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap();
        assert_eq!(out.request_id, "tls-1");
    }
}

#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
#[test]
fn without_a_tls_feature_https_is_refused_clearly_and_http_works() {
    let e = builder("https://ens.aliyuncs.com").build().unwrap_err();
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    assert!(e.to_string().contains("without a TLS feature"), "{e}");
    assert_eq!(ens_upload::TLS_BACKEND, "none");

    let emu = ens_upload::emulator::Emulator::start().unwrap();
    builder(&emu.endpoint())
        .credentials(emu.credentials())
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    let _ = tls_server; // the server is only used with a TLS feature
}
