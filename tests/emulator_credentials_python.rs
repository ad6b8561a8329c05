//! The request shapes the official Python credentials library
//! (alibabacloud_credentials 1.0.x) sends the emulator's credentials
//! services, built by hand: STS calls as GET with every parameter in the
//! query, to a `Host` that still carries the scheme of the `sts_endpoint`
//! it was given (`http://127.0.0.1:PORT`), the OIDC token file's final
//! newline included; ECS metadata to its fixed `100.100.100.200`, which
//! reaches the emulator only as the client's `HTTP_PROXY`, so in
//! absolute-form (`GET http://100.100.100.200/latest/... HTTP/1.1`).
//! Every answer must carry what the library reads: `Credentials` or `Code`
//! `Success`, and `Expiration` exactly `YYYY-MM-DDTHH:MM:SSZ`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use ens_upload::emulator::{
    Emulator, IssuedBy, DEFAULT_ECS_ROLE_NAME, TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET,
};
use ens_upload::sign::{format_timestamp, percent_encode, rpc_v1};
use ens_upload::{Client, Credentials, PrepareUploadRequest};

const ROLE_ARN: &str = "acs:ram::1234567890123456:role/uploader";
const OIDC_PROVIDER_ARN: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa";
const ROLES: &str = "/latest/meta-data/ram/security-credentials/";
const IMDS_HOST: &str = "100.100.100.200";

struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One raw HTTP/1.1 exchange with the emulator, `target` and `Host` as
/// given.
fn raw(emu: &Emulator, method: &str, target: &str, host: &str, headers: &[&str]) -> Answer {
    let mut s = TcpStream::connect(emu.endpoint().trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Accept-Encoding: gzip, deflate\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an answer head");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok());
    Answer {
        status: status.expect("a status code"),
        body: body.to_owned(),
    }
}

/// The strict `%Y-%m-%dT%H:%M:%SZ` the library parses `Expiration` with.
fn assert_expiration_format(answer: &serde_json::Value) {
    let e = answer["Expiration"].as_str().unwrap_or_default();
    let shape_ok = e.len() == 20
        && e.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(shape_ok, "Expiration {e:?} in {answer}");
}

/// Whether ENS accepts a credential the services handed out.
fn ens_accepts(emu: &Emulator, creds: &serde_json::Value) -> bool {
    let field = |name: &str| creds[name].as_str().unwrap().to_owned();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::sts(
            field("AccessKeyId"),
            field("AccessKeySecret"),
            field("SecurityToken"),
        ))
        .build()
        .unwrap();
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .is_ok()
}

#[test]
fn assume_role_and_oidc_as_get_with_a_scheme_in_host_are_served() {
    let emu = Emulator::builder()
        .oidc_token("header.payload.sig")
        .start()
        .unwrap();
    let host = emu.sts_endpoint();
    assert!(host.starts_with("http://"), "{host}");
    let timestamp = format_timestamp(SystemTime::now());
    let params: Vec<(&str, &str)> = vec![
        ("Action", "AssumeRole"),
        ("Format", "JSON"),
        ("Version", "2015-04-01"),
        ("DurationSeconds", "3600"),
        ("RoleArn", ROLE_ARN),
        ("RoleSessionName", "credentials-python-1796428119"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", &timestamp),
        ("SignatureNonce", "4b48fd2d-2e53-5d24-90b1-f03c71dd8c80"),
        ("AccessKeyId", TEST_ACCESS_KEY_ID),
    ];
    let sig = rpc_v1("GET", &params, TEST_ACCESS_KEY_SECRET);
    let role = raw(
        &emu,
        "GET",
        &format!("/?{}", sig.signed_query()),
        &host,
        &[],
    );
    assert_eq!(role.status, 200, "{}", role.body);
    assert_expiration_format(&role.json()["Credentials"]);
    assert!(ens_accepts(&emu, &role.json()["Credentials"]));

    let oidc = format!(
        "/?Action=AssumeRoleWithOIDC&Format=JSON&Version=2015-04-01&DurationSeconds=3600\
         &RoleArn={}&OIDCProviderArn={}&OIDCToken=header.payload.sig%0A\
         &RoleSessionName=credentials-python-1796428119&Timestamp={}",
        percent_encode(ROLE_ARN),
        percent_encode(OIDC_PROVIDER_ARN),
        percent_encode(&timestamp)
    );
    let oidc = raw(&emu, "GET", &oidc, &host, &[]);
    assert_eq!(oidc.status, 200, "{}", oidc.body);
    assert_expiration_format(&oidc.json()["Credentials"]);
    assert!(ens_accepts(&emu, &oidc.json()["Credentials"]));
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 1);
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRoleWithOidc), 1);
}

#[test]
fn ecs_metadata_is_served_to_a_client_using_the_emulator_as_its_http_proxy() {
    let emu = Emulator::builder()
        .ecs_require_imdsv2(true)
        .start()
        .unwrap();
    let imds = format!("http://{IMDS_HOST}");
    let ttl = "X-aliyun-ecs-metadata-token-ttl-seconds: 21600";
    let token = raw(
        &emu,
        "PUT",
        &format!("{imds}/latest/api/token"),
        IMDS_HOST,
        &[ttl],
    );
    assert_eq!(token.status, 200, "{}", token.body);
    let with_token = format!("X-aliyun-ecs-metadata-token: {}", token.body);

    let role = raw(
        &emu,
        "GET",
        &format!("{imds}{ROLES}"),
        IMDS_HOST,
        &[&with_token],
    );
    assert_eq!(
        (role.status, role.body.as_str()),
        (200, DEFAULT_ECS_ROLE_NAME)
    );
    let target = format!("{imds}{ROLES}{DEFAULT_ECS_ROLE_NAME}");
    let creds = raw(&emu, "GET", &target, IMDS_HOST, &[&with_token]);
    assert_eq!(creds.status, 200, "{}", creds.body);
    assert_eq!(creds.json()["Code"], "Success");
    assert_expiration_format(&creds.json());
    assert!(ens_accepts(&emu, &creds.json()));
    // The IMDSv1 fallback the library tries after a refusal is still
    // refused when IMDSv2 is required, in absolute-form too.
    assert_eq!(raw(&emu, "GET", &target, IMDS_HOST, &[]).status, 401);
    assert_eq!(emu.issued_credentials(IssuedBy::EcsMetadata), 1);

    let uri = raw(&emu, "GET", &emu.credentials_uri(), "127.0.0.1", &[]);
    assert_eq!(uri.status, 200, "{}", uri.body);
    assert_eq!(uri.json()["Code"], "Success");
    assert_expiration_format(&uri.json());
}
