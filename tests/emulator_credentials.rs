//! The emulator's credentials services, driven by hand-built requests (as
//! the official credentials libraries send them): STS `AssumeRole` signed
//! with RPC 1.0 by an AccessKey or by an STS credential it issued (chained
//! roles), `AssumeRoleWithOIDC` unsigned, the ECS metadata paths (IMDSv2,
//! IMDSv1, IMDSv2 required) and the credentials URI. Every credential
//! issued is fresh, counted, accepted by ENS and OSS until it expires and
//! refused with their expired-token errors after; the services play their
//! own injected faults.

mod common;

use common::dates::{civil, http_date, unix_now};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use ens_upload::emulator::{
    Emulator, Fault, IssuedBy, DEFAULT_ECS_ROLE_NAME, TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET,
};
use ens_upload::sign::{oss_canonical_resource, oss_v1, oss_v4, percent_encode, rpc_v1};
use ens_upload::{Client, Credentials, PrepareUploadRequest, Signature};

const ROLE_ARN: &str = "acs:ram::1234567890123456:role/uploader";
const OIDC_PROVIDER_ARN: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa";

/// A credential to sign with.
#[derive(Clone, Debug)]
struct Cred {
    id: String,
    secret: String,
    token: Option<String>,
}

impl Cred {
    fn access_key() -> Cred {
        Cred {
            id: TEST_ACCESS_KEY_ID.into(),
            secret: TEST_ACCESS_KEY_SECRET.into(),
            token: None,
        }
    }

    /// The credential in a credentials answer (STS's `Credentials`, or the
    /// whole ECS / URI answer).
    fn from_json(v: &serde_json::Value) -> Cred {
        let field = |name: &str| {
            v[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} in {v}"))
                .to_owned()
        };
        Cred {
            id: field("AccessKeyId"),
            secret: field("AccessKeySecret"),
            token: Some(field("SecurityToken")),
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials::sts(
            self.id.clone(),
            self.secret.clone(),
            self.token.clone().unwrap(),
        )
    }
}

struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn code(&self) -> String {
        self.json()["Code"].as_str().unwrap_or_default().to_owned()
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(timeout))
        .build()
        .new_agent()
}

fn read(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.expect("an answer");
    Answer {
        status: response.status().as_u16(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn nonce() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn timestamp() -> String {
    ens_upload::sign::format_timestamp(SystemTime::now())
}

/// The common RPC 1.0 parameters of a signed call by `cred`.
fn common(action: &str, version: &str, cred: &Cred) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("Action", action),
        ("Version", version),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", &cred.id),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.push(("Timestamp".into(), timestamp()));
    p.push(("SignatureNonce".into(), nonce()));
    if let Some(t) = &cred.token {
        p.push(("SecurityToken".into(), t.clone()));
    }
    p
}

fn query_string(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `AssumeRole` as credentials-go sends it: POST, the common parameters in
/// the query, the action's in a form body, all signed together with
/// `signing_secret`.
fn assume_role_signed(
    emu: &Emulator,
    cred: &Cred,
    signing_secret: &str,
    form: &[(&str, &str)],
) -> Answer {
    let query = common("AssumeRole", "2015-04-01", cred);
    let mut all = query.clone();
    all.extend(form.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let sig = rpc_v1("POST", &all, signing_secret);
    let url = format!(
        "{}/?{}&Signature={}",
        emu.sts_endpoint(),
        query_string(&query),
        percent_encode(&sig.signature)
    );
    read(
        agent(Duration::from_secs(10))
            .post(&url)
            .send_form(form.iter().copied()),
    )
}

fn assume_role(emu: &Emulator, cred: &Cred, form: &[(&str, &str)]) -> Answer {
    assume_role_signed(emu, cred, &cred.secret, form)
}

fn role_form(duration: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RoleArn", ROLE_ARN.to_owned()),
        ("RoleSessionName", "device-42".to_owned()),
        ("DurationSeconds", duration.to_owned()),
    ]
}

fn as_pairs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `AssumeRoleWithOIDC` as credentials-go sends it: unsigned, POST.
fn assume_role_with_oidc(emu: &Emulator, token: &str) -> Answer {
    let url = format!(
        "{}/?Action=AssumeRoleWithOIDC&Version=2015-04-01&Format=JSON&Timestamp={}",
        emu.sts_endpoint(),
        percent_encode(&timestamp())
    );
    read(agent(Duration::from_secs(10)).post(&url).send_form([
        ("RoleArn", ROLE_ARN),
        ("OIDCProviderArn", OIDC_PROVIDER_ARN),
        ("OIDCToken", token),
        ("RoleSessionName", "pod-7"),
        ("DurationSeconds", "3600"),
    ]))
}

/// `PrepareUpload` signed with RPC 1.0 (GET) by `cred`.
fn prepare_upload(emu: &Emulator, cred: &Cred) -> Answer {
    let mut params = common("PrepareUpload", ens_upload::API_VERSION, cred);
    params.push(("BucketName".into(), "test".into()));
    let sig = rpc_v1("GET", &params, &cred.secret);
    let url = format!("{}/?{}", emu.endpoint(), sig.signed_query());
    read(agent(Duration::from_secs(10)).get(&url).call())
}

fn ecs_token(emu: &Emulator, ttl: Option<&str>) -> Answer {
    let url = format!("{}/latest/api/token", emu.ecs_metadata_endpoint());
    let mut request = agent(Duration::from_secs(10)).put(&url);
    if let Some(ttl) = ttl {
        request = request.header("X-aliyun-ecs-metadata-token-ttl-seconds", ttl);
    }
    read(request.send_empty())
}

fn ecs_get(emu: &Emulator, path: &str, token: Option<&str>) -> Answer {
    let url = format!("{}{path}", emu.ecs_metadata_endpoint());
    let mut request = agent(Duration::from_secs(10)).get(&url);
    if let Some(t) = token {
        request = request.header("X-aliyun-ecs-metadata-token", t);
    }
    read(request.call())
}

fn uri_get(emu: &Emulator) -> Answer {
    read(
        agent(Duration::from_secs(10))
            .get(&emu.credentials_uri())
            .call(),
    )
}

const ROLES: &str = "/latest/meta-data/ram/security-credentials/";

/// `2026-12-04T12:00:00Z` → Unix seconds (by search over days: tests only).
fn parse_expiration(s: &str) -> i64 {
    assert_eq!(s.len(), 20, "{s}");
    assert!(s.ends_with('Z') && &s[10..11] == "T", "{s}");
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7) as u32, n(8..10) as u32);
    let days = (0..200_000).find(|&days| civil(days) == (y, m, d)).unwrap();
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

/// `20240506T070809Z`.
fn oss_date(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil(unix.div_euclid(86_400));
    format!(
        "{y}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// PutObject (path-style) signed by `cred` with OSS signature V1 or V4.
fn put_object(emu: &Emulator, cred: &Cred, key: &str, v4: bool) -> Answer {
    let bucket = emu.oss_bucket_for("test");
    let token = cred.token.clone().unwrap();
    let mut headers = vec![
        (
            "content-type".to_owned(),
            "application/octet-stream".to_owned(),
        ),
        ("x-oss-security-token".to_owned(), token),
    ];
    let authorization = if v4 {
        let date = oss_date(unix_now());
        headers.push(("x-oss-date".into(), date.clone()));
        headers.push(("x-oss-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
        let no_query: [(&str, Option<&str>); 0] = [];
        oss_v4(
            "PUT",
            Some(&bucket),
            key,
            &no_query,
            &headers,
            &[],
            "cn-hangzhou",
            &date,
            &cred.secret,
        )
        .authorization(&cred.id)
    } else {
        let date = http_date(unix_now());
        headers.push(("date".into(), date.clone()));
        let resource = oss_canonical_resource(Some(&bucket), key, &[]);
        oss_v1(
            "PUT",
            "",
            "application/octet-stream",
            &date,
            &headers,
            &resource,
            &cred.secret,
        )
        .authorization(&cred.id)
    };
    let url = format!("{}/{bucket}/{key}", emu.endpoint());
    let mut request = agent(Duration::from_secs(10))
        .put(&url)
        .header("authorization", &authorization);
    for (k, v) in &headers {
        request = request.header(k, v);
    }
    read(request.send(&b"hello"[..]))
}

/// The `<tag>` text of an XML body.
fn xml_text(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&format!("</{tag}>"))?;
    Some(body[start..end].to_owned())
}

#[test]
fn assume_role_signed_by_an_access_key_issues_fresh_credentials_that_ens_and_oss_accept() {
    let emu = Emulator::start().unwrap();
    let form = role_form("3600");
    let a = assume_role(&emu, &Cred::access_key(), &as_pairs(&form));
    assert_eq!(a.status, 200, "{}", a.body);
    let json = a.json();
    assert!(json["RequestId"].is_string());
    assert_eq!(
        json["AssumedRoleUser"]["Arn"],
        "acs:ram::1234567890123456:role/uploader/device-42"
    );
    assert!(json["AssumedRoleUser"]["AssumedRoleId"]
        .as_str()
        .unwrap()
        .ends_with(":device-42"));
    let cred = Cred::from_json(&json["Credentials"]);
    assert!(cred.id.starts_with("STS."), "{}", cred.id);
    let expiration = parse_expiration(json["Credentials"]["Expiration"].as_str().unwrap());
    assert!(
        (expiration - (unix_now() + 3600)).abs() < 120,
        "{expiration}"
    );

    // A second call: another credential.
    let b = assume_role(&emu, &Cred::access_key(), &as_pairs(&form));
    let other = Cred::from_json(&b.json()["Credentials"]);
    assert_ne!(other.id, cred.id);
    assert_ne!(other.secret, cred.secret);
    assert_ne!(other.token, cred.token);
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 2);
    assert_eq!(emu.issued_credentials(IssuedBy::EcsMetadata), 0);

    // ENS (RPC 1.0 by hand, and the client) and OSS (V1 and V4) accept it.
    let p = prepare_upload(&emu, &cred);
    assert_eq!(p.status, 200, "{}", p.body);
    for signature in [Signature::RpcV1, Signature::Acs3HmacSha256] {
        Client::builder()
            .endpoint(emu.endpoint())
            .credentials(cred.credentials())
            .signature(signature)
            .build()
            .unwrap()
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap();
    }
    for v4 in [false, true] {
        let put = put_object(&emu, &cred, "issued.txt", v4);
        assert_eq!(put.status, 200, "v4 {v4}: {}", put.body);
    }
    // A wrong token with the issued id is refused.
    let forged = Cred {
        token: Some("CAISforged".into()),
        ..cred.clone()
    };
    let refused = prepare_upload(&emu, &forged);
    assert_eq!(
        (refused.status, refused.code()),
        (400, "InvalidSecurityToken.Mismatch".into())
    );
}

#[test]
fn assume_role_refuses_bad_signatures_unknown_keys_and_bad_parameters() {
    let emu = Emulator::start().unwrap();
    let ak = Cred::access_key();
    let form = role_form("3600");
    let bad = assume_role_signed(&emu, &ak, "not-the-secret", &as_pairs(&form));
    assert_eq!(
        (bad.status, bad.code()),
        (400, "SignatureDoesNotMatch".into())
    );
    assert_eq!(bad.json()["HostId"], "sts.aliyuncs.com");
    assert!(bad.json()["Recommend"]
        .as_str()
        .unwrap()
        .contains("product=Sts"));
    let unknown = Cred {
        id: "LTAINoSuchKey".into(),
        ..ak.clone()
    };
    let a = assume_role(&emu, &unknown, &as_pairs(&form));
    assert_eq!(
        (a.status, a.code()),
        (404, "InvalidAccessKeyId.NotFound".into())
    );

    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("RoleSessionName", "s1"), ("DurationSeconds", "3600")],
            "MissingRoleArn",
        ),
        (
            &[
                ("RoleArn", "arn:aws:iam::1:role/x"),
                ("RoleSessionName", "s1"),
            ],
            "InvalidParameter.RoleArn",
        ),
        (
            &[
                ("RoleArn", "acs:ram::12ab:role/x"),
                ("RoleSessionName", "s1"),
            ],
            "InvalidParameter.RoleArn",
        ),
        (&[("RoleArn", ROLE_ARN)], "MissingRoleSessionName"),
        (
            &[("RoleArn", ROLE_ARN), ("RoleSessionName", "a")],
            "InvalidParameter.RoleSessionName",
        ),
        (
            &[("RoleArn", ROLE_ARN), ("RoleSessionName", "has space")],
            "InvalidParameter.RoleSessionName",
        ),
        (
            &[
                ("RoleArn", ROLE_ARN),
                ("RoleSessionName", "s1"),
                ("DurationSeconds", "899"),
            ],
            "InvalidParameter.DurationSeconds",
        ),
        (
            &[
                ("RoleArn", ROLE_ARN),
                ("RoleSessionName", "s1"),
                ("DurationSeconds", "43201"),
            ],
            "InvalidParameter.DurationSeconds",
        ),
        (
            &[
                ("RoleArn", ROLE_ARN),
                ("RoleSessionName", "s1"),
                ("Policy", "{not json"),
            ],
            "InvalidParameter.PolicyGrammar",
        ),
    ];
    for (form, code) in cases {
        let a = assume_role(&emu, &ak, form);
        assert_eq!((a.status, a.code()), (400, code.to_string()), "{form:?}");
    }
    // The longest session name, the limits of DurationSeconds, a policy
    // and an external id are accepted.
    let long = "a".repeat(64);
    for duration in ["900", "43200"] {
        let a = assume_role(
            &emu,
            &ak,
            &[
                ("RoleArn", ROLE_ARN),
                ("RoleSessionName", &long),
                ("DurationSeconds", duration),
                ("Policy", r#"{"Version":"1","Statement":[]}"#),
                ("ExternalId", "abcd-1234"),
            ],
        );
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 2);
}

#[test]
fn chained_assume_role_signs_with_an_issued_sts_credential() {
    let emu = Emulator::start().unwrap();
    let form = role_form("3600");
    let first = assume_role(&emu, &Cred::access_key(), &as_pairs(&form));
    let first = Cred::from_json(&first.json()["Credentials"]);
    let second = assume_role(&emu, &first, &as_pairs(&form));
    assert_eq!(second.status, 200, "{}", second.body);
    let second = Cred::from_json(&second.json()["Credentials"]);
    assert_ne!(second.id, first.id);
    assert_eq!(prepare_upload(&emu, &second).status, 200);
    // The issued key without its token is refused.
    let tokenless = Cred {
        token: None,
        ..first.clone()
    };
    let a = assume_role(&emu, &tokenless, &as_pairs(&form));
    assert_eq!(
        (a.status, a.code()),
        (400, "InvalidSecurityToken.Missing".into())
    );
    // The emulator's configured STS credentials chain too.
    let sts = emu.sts_credentials();
    let configured = Cred {
        id: sts.access_key_id().to_owned(),
        secret: ens_upload::emulator::TEST_STS_ACCESS_KEY_SECRET.into(),
        token: Some(ens_upload::emulator::TEST_SECURITY_TOKEN.into()),
    };
    assert_eq!(assume_role(&emu, &configured, &as_pairs(&form)).status, 200);
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 3);
}

#[test]
fn duration_seconds_and_the_lifetime_setting_bound_the_expiration() {
    let emu = Emulator::builder()
        .issued_credential_lifetime(Duration::from_secs(7200))
        .start()
        .unwrap();
    let expiration = |a: &Answer| {
        assert_eq!(a.status, 200, "{}", a.body);
        parse_expiration(a.json()["Credentials"]["Expiration"].as_str().unwrap())
    };
    let short = assume_role(&emu, &Cred::access_key(), &as_pairs(&role_form("900")));
    assert!((expiration(&short) - (unix_now() + 900)).abs() < 120);
    let long = assume_role(&emu, &Cred::access_key(), &as_pairs(&role_form("43200")));
    assert!((expiration(&long) - (unix_now() + 7200)).abs() < 120);
}

#[test]
fn expirations_are_on_the_emulators_own_clock() {
    let emu = Emulator::builder().clock_skew_secs(86_400).start().unwrap();
    let skewed_now = unix_now() + 86_400;
    let uri = uri_get(&emu).json();
    let expiration = parse_expiration(uri["Expiration"].as_str().unwrap());
    assert!((expiration - (skewed_now + 3600)).abs() < 120, "{uri}");
    let ecs = ecs_get(&emu, &format!("{ROLES}{DEFAULT_ECS_ROLE_NAME}"), None).json();
    let last_updated = parse_expiration(ecs["LastUpdated"].as_str().unwrap());
    assert!((last_updated - skewed_now).abs() < 120, "{ecs}");
}

#[test]
fn assume_role_with_oidc_is_unsigned_and_checks_the_token() {
    let emu = Emulator::builder()
        .oidc_token("eyJhbGciOiJSUzI1NiJ9.payload.sig")
        .start()
        .unwrap();
    assert_eq!(emu.last_oidc_token(), None);
    // A token file's final newline does not matter.
    let a = assume_role_with_oidc(&emu, "eyJhbGciOiJSUzI1NiJ9.payload.sig\n");
    assert_eq!(a.status, 200, "{}", a.body);
    let json = a.json();
    let cred = Cred::from_json(&json["Credentials"]);
    assert!(cred.id.starts_with("STS."));
    assert!(json["OIDCTokenInfo"]["Subject"].is_string());
    assert_eq!(
        json["AssumedRoleUser"]["Arn"],
        "acs:ram::1234567890123456:role/uploader/pod-7"
    );
    assert_eq!(
        emu.last_oidc_token().as_deref(),
        Some("eyJhbGciOiJSUzI1NiJ9.payload.sig\n")
    );
    assert_eq!(prepare_upload(&emu, &cred).status, 200);

    let wrong = assume_role_with_oidc(&emu, "eyJ.other.token");
    assert_eq!(
        (wrong.status, wrong.code()),
        (401, "AuthenticationFail.OIDCToken.InvalidSignature".into())
    );
    assert_eq!(emu.last_oidc_token().as_deref(), Some("eyJ.other.token"));
    let empty = assume_role_with_oidc(&emu, "");
    assert_eq!(
        (empty.status, empty.code()),
        (401, "AuthenticationFail.OIDCToken.Invalid".into())
    );
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRoleWithOidc), 1);
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 0);

    // Without a configured token any non-empty one goes.
    let open = Emulator::start().unwrap();
    assert_eq!(assume_role_with_oidc(&open, "anything").status, 200);
}

#[test]
fn ecs_metadata_serves_imdsv2_and_imdsv1() {
    let emu = Emulator::start().unwrap();
    let token = ecs_token(&emu, Some("21600"));
    assert_eq!(token.status, 200, "{}", token.body);
    let token = token.body;
    assert!(!token.is_empty());

    let role = ecs_get(&emu, ROLES, Some(&token));
    assert_eq!(
        (role.status, role.body.as_str()),
        (200, DEFAULT_ECS_ROLE_NAME)
    );
    let creds = ecs_get(
        &emu,
        &format!("{ROLES}{DEFAULT_ECS_ROLE_NAME}"),
        Some(&token),
    );
    assert_eq!(creds.status, 200, "{}", creds.body);
    let json = creds.json();
    assert_eq!(json["Code"], "Success");
    let expiration = parse_expiration(json["Expiration"].as_str().unwrap());
    let last_updated = parse_expiration(json["LastUpdated"].as_str().unwrap());
    assert_eq!(expiration - last_updated, 3600);
    let v2 = Cred::from_json(&json);
    assert_eq!(put_object(&emu, &v2, "from-ecs.txt", true).status, 200);

    // IMDSv1: no token at all.
    let v1 = ecs_get(&emu, &format!("{ROLES}{DEFAULT_ECS_ROLE_NAME}"), None);
    assert_eq!(v1.status, 200, "{}", v1.body);
    assert_ne!(Cred::from_json(&v1.json()).id, v2.id);
    assert_eq!(emu.issued_credentials(IssuedBy::EcsMetadata), 2);

    // An unknown token, unknown role, bad TTLs.
    assert_eq!(ecs_get(&emu, ROLES, Some("not-a-token")).status, 401);
    assert_eq!(
        ecs_get(&emu, &format!("{ROLES}OtherRole"), None).status,
        404
    );
    for ttl in [None, Some("0"), Some("21601"), Some("soon")] {
        assert_eq!(ecs_token(&emu, ttl).status, 400, "{ttl:?}");
    }
    assert_eq!(emu.issued_credentials(IssuedBy::EcsMetadata), 2);
}

#[test]
fn ecs_metadata_can_require_imdsv2_and_serve_another_role() {
    let emu = Emulator::builder()
        .ecs_require_imdsv2(true)
        .ecs_role_name("DeviceRole")
        .start()
        .unwrap();
    assert_eq!(ecs_get(&emu, ROLES, None).status, 401);
    assert_eq!(
        ecs_get(&emu, &format!("{ROLES}DeviceRole"), None).status,
        401
    );
    let token = ecs_token(&emu, Some("60")).body;
    let role = ecs_get(&emu, ROLES, Some(&token));
    assert_eq!((role.status, role.body.as_str()), (200, "DeviceRole"));
    let creds = ecs_get(&emu, &format!("{ROLES}DeviceRole"), Some(&token));
    assert_eq!(creds.status, 200);
    assert_eq!(
        ecs_get(
            &emu,
            &format!("{ROLES}{DEFAULT_ECS_ROLE_NAME}"),
            Some(&token)
        )
        .status,
        404
    );
    assert_eq!(emu.issued_credentials(IssuedBy::EcsMetadata), 1);
}

#[test]
fn the_credentials_uri_hands_out_a_fresh_credential_each_time() {
    let emu = Emulator::start().unwrap();
    assert!(emu.credentials_uri().ends_with("/credentials-uri"));
    let a = uri_get(&emu);
    assert_eq!(a.status, 200, "{}", a.body);
    let first = a.json();
    assert_eq!(first["Code"], "Success");
    let b = uri_get(&emu).json();
    assert_ne!(first["AccessKeyId"], b["AccessKeyId"]);
    assert_eq!(emu.issued_credentials(IssuedBy::CredentialsUri), 2);
    let cred = Cred::from_json(&first);
    assert_eq!(prepare_upload(&emu, &cred).status, 200);
}

#[test]
fn an_issued_credential_is_refused_by_ens_oss_and_sts_once_expired() {
    let emu = Emulator::builder()
        .issued_credential_lifetime(Duration::from_secs(3))
        .start()
        .unwrap();
    let json = uri_get(&emu).json();
    let expiration = parse_expiration(json["Expiration"].as_str().unwrap());
    let cred = Cred::from_json(&json);
    // Still valid: used at once (its life is 2 to 3 s of wall time, as
    // `Expiration` has whole seconds).
    assert_eq!(prepare_upload(&emu, &cred).status, 200);
    assert_eq!(put_object(&emu, &cred, "before.txt", false).status, 200);

    while unix_now() <= expiration {
        std::thread::sleep(Duration::from_millis(200));
    }
    let ens = prepare_upload(&emu, &cred);
    assert_eq!(
        (ens.status, ens.code()),
        (400, "InvalidSecurityToken.Expired".into())
    );
    assert_eq!(ens.json()["Message"], "Specified SecurityToken is expired.");
    for signature in [Signature::RpcV1, Signature::Acs3HmacSha256] {
        let err = Client::builder()
            .endpoint(emu.endpoint())
            .credentials(cred.credentials())
            .signature(signature)
            .build()
            .unwrap()
            .prepare_upload(&PrepareUploadRequest::new("test"))
            .unwrap_err();
        assert!(
            err.to_string().contains("InvalidSecurityToken.Expired"),
            "{signature:?}: {err}"
        );
    }
    for v4 in [false, true] {
        let oss = put_object(&emu, &cred, "after.txt", v4);
        assert_eq!(oss.status, 403, "v4 {v4}: {}", oss.body);
        assert_eq!(
            xml_text(&oss.body, "Code").as_deref(),
            Some("SecurityTokenExpired")
        );
        assert_eq!(
            xml_text(&oss.body, "Message").as_deref(),
            Some("The security token you provided has expired.")
        );
        assert_eq!(xml_text(&oss.body, "EC").as_deref(), Some("0002-00000007"));
    }
    let chained = assume_role(&emu, &cred, &as_pairs(&role_form("3600")));
    assert_eq!(
        (chained.status, chained.code()),
        (400, "InvalidSecurityToken.Expired".into())
    );
    // A fresh one works again.
    let fresh = Cred::from_json(&uri_get(&emu).json());
    assert_eq!(prepare_upload(&emu, &fresh).status, 200);
}

#[test]
fn credentials_services_play_their_own_faults() {
    let emu = Emulator::start().unwrap();
    // Any credentials service: the next two calls, whichever they are.
    emu.inject(Fault::CredentialsService(Box::new(Fault::InternalError)), 2);
    assert_eq!(uri_get(&emu).status, 500);
    assert_eq!(ecs_token(&emu, Some("60")).status, 500);
    assert_eq!(uri_get(&emu).status, 200);
    assert_eq!(emu.pending_faults(), 0);

    // Scoped: an STS fault leaves the URI and ENS alone.
    emu.inject(Fault::Sts(Box::new(Fault::InternalError)), 1);
    assert_eq!(uri_get(&emu).status, 200);
    assert_eq!(prepare_upload(&emu, &Cred::access_key()).status, 200);
    let sts = assume_role(&emu, &Cred::access_key(), &as_pairs(&role_form("900")));
    assert_eq!((sts.status, sts.code()), (500, "InternalError".into()));
    assert_eq!(sts.json()["HostId"], "sts.aliyuncs.com");
    assert_eq!(
        assume_role(&emu, &Cred::access_key(), &as_pairs(&role_form("900"))).status,
        200
    );

    // An ENS fault is not played on STS.
    emu.inject(Fault::InternalError, 1);
    assert_eq!(assume_role_with_oidc(&emu, "token").status, 200);
    assert_eq!(prepare_upload(&emu, &Cred::access_key()).status, 500);

    // Not JSON, reset, slow.
    emu.inject(Fault::CredentialsUri(Box::new(Fault::NonJson)), 1);
    let garbage = uri_get(&emu);
    assert_eq!(garbage.status, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&garbage.body).is_err());
    emu.inject(Fault::EcsMetadata(Box::new(Fault::ConnectionReset)), 1);
    let url = format!("{}{ROLES}", emu.ecs_metadata_endpoint());
    assert!(agent(Duration::from_secs(10)).get(&url).call().is_err());
    emu.inject(
        Fault::EcsMetadata(Box::new(Fault::Slow(Duration::from_secs(3)))),
        1,
    );
    assert!(agent(Duration::from_millis(500)).get(&url).call().is_err());
    assert_eq!(ecs_get(&emu, ROLES, None).status, 200);
    // Issued: the two good URI calls and the one answered with garbage.
    assert_eq!(emu.issued_credentials(IssuedBy::CredentialsUri), 3);

    // The standalone emulator's spelling.
    assert_eq!(
        "sts:internal-error".parse::<Fault>(),
        Ok(Fault::Sts(Box::new(Fault::InternalError)))
    );
    assert_eq!(
        "credentials:slow=100".parse::<Fault>(),
        Ok(Fault::CredentialsService(Box::new(Fault::Slow(
            Duration::from_millis(100)
        ))))
    );
    assert_eq!(
        "ecs:non-json".parse::<Fault>(),
        Ok(Fault::EcsMetadata(Box::new(Fault::NonJson)))
    );
    assert_eq!(
        "uri:reset".parse::<Fault>(),
        Ok(Fault::CredentialsUri(Box::new(Fault::ConnectionReset)))
    );
    assert!("sts:nonsense".parse::<Fault>().is_err());
}
