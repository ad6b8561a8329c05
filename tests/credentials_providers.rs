//! Each network provider against the emulator's STS, ECS metadata and
//! credentials URI: what it sends, what it gets, its refresh, and the
//! expired-token answers of ENS and OSS forcing a refresh and one retry.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::TempDir;
use ens_upload::emulator::{Emulator, Fault, IssuedBy, DEFAULT_ECS_ROLE_NAME};
use ens_upload::{
    Client, Credentials, CredentialsProvider, CredentialsUriProvider, EcsRamRoleProvider, Error,
    FetchContext, OidcRoleProvider, PrepareUploadRequest, RamRoleArnProvider, Result,
    UploadOptions,
};

const ROLE_ARN: &str = "acs:ram::1234567890123456:role/uploader";
const OIDC_PROVIDER_ARN: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa";

use common::{client_with_provider as client, prepare_test as prepare};

#[test]
fn assume_role_signed_by_an_access_key_and_chained() {
    let emu = Emulator::start().unwrap();
    let role = RamRoleArnProvider::new(emu.credentials(), ROLE_ARN)
        .role_session_name("camera-17")
        .duration_seconds(1800)
        .sts_endpoint(emu.sts_endpoint());
    let c = client(&emu, role);
    assert!(
        c.credentials_source().contains(ROLE_ARN),
        "{}",
        c.credentials_source()
    );
    prepare(&c).unwrap();
    prepare(&c).unwrap();
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 1);
    let sts = emu
        .requests()
        .into_iter()
        .find(|r| r.param("Action") == Some("AssumeRole"))
        .expect("an AssumeRole request");
    assert_eq!(sts.param("RoleSessionName"), Some("camera-17"));
    assert_eq!(sts.param("DurationSeconds"), Some("1800"));
    assert_eq!(sts.param("Version"), Some("2015-04-01"));
    let current = c.current_credentials().unwrap();
    assert!(current.is_sts());
    assert!(current.expiration().is_some());

    // A role assumed with the first role's credentials.
    let inner =
        RamRoleArnProvider::new(emu.credentials(), ROLE_ARN).sts_endpoint(emu.sts_endpoint());
    let outer = RamRoleArnProvider::new(inner, "acs:ram::1234567890123456:role/second")
        .sts_endpoint(emu.sts_endpoint());
    prepare(&client(&emu, outer)).unwrap();
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 3);
}

#[test]
fn assume_role_from_the_builder_and_its_errors() {
    let emu = Emulator::start().unwrap();
    let c = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .role_arn(ROLE_ARN)
        .sts_endpoint(emu.sts_endpoint())
        .build()
        .unwrap();
    prepare(&c).unwrap();
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 1);

    // A bad session name is refused at build, naming it.
    let e = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .role_arn(ROLE_ARN)
        .role_session_name("x")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("RoleSessionName"), "{e}");

    // Not a role ARN: refused at build, naming the setting.
    let e = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .role_arn("uploader")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("acs:ram::"), "{e}");

    // A wrong source secret: STS refuses, the error names AssumeRole and
    // keeps STS's code underneath.
    let bad = RamRoleArnProvider::new(
        Credentials::access_key(ens_upload::emulator::TEST_ACCESS_KEY_ID, "wrong-secret"),
        ROLE_ARN,
    )
    .sts_endpoint(emu.sts_endpoint());
    let e = prepare(&client(&emu, bad)).unwrap_err();
    assert!(matches!(e, Error::Credentials { .. }), "{e:?}");
    assert!(e.to_string().contains("AssumeRole"), "{e}");
    assert!(e.to_string().contains("SignatureDoesNotMatch"), "{e}");
    assert!(!e.to_string().contains("wrong-secret"), "{e}");
}

#[test]
fn oidc_role_reads_its_token_file_at_every_fetch() {
    let emu = Emulator::builder()
        .issued_credential_lifetime(Duration::from_secs(4))
        .start()
        .unwrap();
    let dir = TempDir::new("oidc");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first-token\n").unwrap();
    let p = OidcRoleProvider::new(ROLE_ARN, OIDC_PROVIDER_ARN, &token_file)
        .sts_endpoint(emu.sts_endpoint());
    let c = client(&emu, p);
    prepare(&c).unwrap();
    assert_eq!(emu.last_oidc_token().as_deref(), Some("first-token"));
    std::fs::write(&token_file, "second-token\n").unwrap();
    // Lifetime 4 s: due with 2 s left.
    std::thread::sleep(Duration::from_millis(2500));
    prepare(&c).unwrap();
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRoleWithOidc), 2);
    assert_eq!(emu.last_oidc_token().as_deref(), Some("second-token"));
    let oidc = emu
        .requests()
        .into_iter()
        .find(|r| r.param("Action") == Some("AssumeRoleWithOIDC"))
        .unwrap();
    assert!(
        oidc.param("Signature").is_none(),
        "AssumeRoleWithOIDC is not signed"
    );
}

#[test]
fn ecs_ram_role_with_imdsv2_v1_and_discovery() {
    let emu = Emulator::builder()
        .ecs_require_imdsv2(true)
        .start()
        .unwrap();
    let p = EcsRamRoleProvider::new().metadata_endpoint(emu.ecs_metadata_endpoint());
    let c = client(&emu, p);
    prepare(&c).unwrap();
    assert_eq!(emu.issued_credentials(IssuedBy::EcsMetadata), 1);
    let reqs = emu.requests();
    assert!(reqs
        .iter()
        .any(|r| r.method == "PUT" && r.path == "/latest/api/token"));
    let creds_get = reqs
        .iter()
        .find(|r| r.path.ends_with(DEFAULT_ECS_ROLE_NAME))
        .expect("the role's credentials asked for (the name discovered)");
    assert!(creds_get
        .headers
        .iter()
        .any(|(k, _)| k == "x-aliyun-ecs-metadata-token"));

    // IMDSv1 when the token is refused, unless disabled.
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::EcsMetadata(Box::new(Fault::InternalError)), 3);
    let p = EcsRamRoleProvider::new()
        .role_name(DEFAULT_ECS_ROLE_NAME)
        .metadata_endpoint(emu.ecs_metadata_endpoint());
    prepare(&client(&emu, p)).unwrap();

    let emu = Emulator::start().unwrap();
    emu.inject(Fault::EcsMetadata(Box::new(Fault::InternalError)), 3);
    let p = EcsRamRoleProvider::new()
        .disable_imdsv1(true)
        .metadata_endpoint(emu.ecs_metadata_endpoint());
    let e = prepare(&client(&emu, p)).unwrap_err();
    assert!(e.to_string().contains("IMDSv1 is disabled"), "{e}");

    // An unknown role: 404, said plainly.
    let emu = Emulator::start().unwrap();
    let p = EcsRamRoleProvider::new()
        .role_name("nope")
        .metadata_endpoint(emu.ecs_metadata_endpoint());
    let e = prepare(&client(&emu, p)).unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");
}

#[test]
fn credentials_uri_and_its_faults() {
    let emu = Emulator::start().unwrap();
    let c = client(&emu, CredentialsUriProvider::new(emu.credentials_uri()));
    prepare(&c).unwrap();
    assert_eq!(emu.issued_credentials(IssuedBy::CredentialsUri), 1);
    assert!(c
        .credentials_source()
        .starts_with("credentials URI http://"));

    // A 500 is retried within the provider's call; garbage is an error.
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::CredentialsUri(Box::new(Fault::InternalError)), 1);
    prepare(&client(
        &emu,
        CredentialsUriProvider::new(emu.credentials_uri()),
    ))
    .unwrap();
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::CredentialsUri(Box::new(Fault::NonJson)), 1);
    let e = prepare(&client(
        &emu,
        CredentialsUriProvider::new(emu.credentials_uri()),
    ))
    .unwrap_err();
    assert!(e.to_string().contains("not the expected JSON"), "{e}");
}

/// The emulator's credentials URI, but claiming an hour's lifetime: the
/// client cannot know the server will refuse them sooner.
#[derive(Debug)]
struct Overconfident {
    uri: String,
    fetches: AtomicUsize,
}

impl CredentialsProvider for Overconfident {
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let c = CredentialsUriProvider::new(self.uri.clone()).fetch(ctx)?;
        Ok(c.with_expiration(SystemTime::now() + Duration::from_secs(3600)))
    }
    fn describe(&self) -> String {
        "overconfident".into()
    }
}

#[test]
fn an_expired_token_answer_forces_a_refresh_and_one_retry() {
    let emu = Emulator::builder()
        .issued_credential_lifetime(Duration::from_secs(2))
        .start()
        .unwrap();
    let p = Arc::new(Overconfident {
        uri: emu.credentials_uri(),
        fetches: AtomicUsize::new(0),
    });
    let c = client(&emu, p.clone());
    prepare(&c).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    // ENS refuses the token as expired: refreshed, signed again, done.
    prepare(&c).unwrap();
    assert_eq!(p.fetches.load(Ordering::SeqCst), 2);
    assert!(emu
        .requests()
        .iter()
        .any(|r| r.code.as_deref() == Some("InvalidSecurityToken.Expired")));

    // OSS: PrepareUpload answers slowly, so the token expires before
    // PutObject; OSS refuses it, the upload refreshes and goes on.
    let dir = TempDir::new("expired-oss");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    prepare(&c).unwrap(); // refreshed again by ENS's refusal (fetch 3)
    emu.inject(Fault::Slow(Duration::from_millis(2500)), 1);
    let out = c
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "clip.bin",
            &file,
            &UploadOptions::default(),
        )
        .unwrap();
    assert_eq!(out.size, 100_000);
    assert_eq!(p.fetches.load(Ordering::SeqCst), 4);
    assert!(emu
        .requests()
        .iter()
        .any(|r| r.code.as_deref() == Some("SecurityTokenExpired")));
}

#[test]
fn a_credential_expiring_mid_upload_signs_later_parts_with_the_new_one() {
    let emu = Emulator::builder()
        .issued_credential_lifetime(Duration::from_secs(4))
        .start()
        .unwrap();
    let c = client(&emu, CredentialsUriProvider::new(emu.credentials_uri()));
    let dir = TempDir::new("mid-upload");
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![3u8; 6 * 100 * 1024]).unwrap();
    // Six parts of 100 KiB, one at a time, each answered after 1 s: the
    // upload outlives the 4 s credential.
    for _ in 0..6 {
        emu.inject(Fault::OssSlow(Duration::from_secs(1)), 1);
    }
    let opts = UploadOptions::default()
        .part_size(100 * 1024)
        .multipart_threshold(100 * 1024)
        .threads(1);
    let out = c
        .upload_file(&PrepareUploadRequest::new("test"), "long.bin", &file, &opts)
        .unwrap();
    assert_eq!(out.size, 6 * 100 * 1024);
    assert!(
        emu.issued_credentials(IssuedBy::CredentialsUri) >= 2,
        "refreshed during the upload"
    );
    let ids: std::collections::HashSet<String> = emu
        .requests()
        .iter()
        .filter(|r| r.param("partNumber").is_some())
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| {
                    v.split([' ', ':', '/', ','])
                        .nth(1)
                        .unwrap_or("")
                        .to_owned()
                })
        })
        .collect();
    assert!(ids.len() >= 2, "parts signed with two credentials: {ids:?}");
}

/// A device whose clock is two hours behind the servers': the metadata
/// server's `Date` corrects the clock, so expiry is judged by the servers'
/// time and the credentials are refreshed before they expire (never
/// refused as expired).
#[test]
fn expiry_is_judged_by_the_corrected_clock() {
    let emu = Emulator::builder()
        .clock_skew_secs(7200)
        .issued_credential_lifetime(Duration::from_secs(6))
        .start()
        .unwrap();
    let p = EcsRamRoleProvider::new().metadata_endpoint(emu.ecs_metadata_endpoint());
    let c = client(&emu, p);
    prepare(&c).unwrap();
    assert!(
        (7190..=7210).contains(&c.clock_offset()),
        "{}",
        c.clock_offset()
    );
    let expires = c.current_credentials().unwrap().expiration().unwrap();
    let left = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs();
    assert!(
        left > 7000,
        "the expiry is on the servers' clock: {left} s ahead of ours"
    );
    std::thread::sleep(Duration::from_millis(4200));
    prepare(&c).unwrap();
    assert_eq!(
        emu.issued_credentials(IssuedBy::EcsMetadata),
        2,
        "refreshed when due"
    );
    assert!(
        emu.requests()
            .iter()
            .all(|r| r.code.as_deref() != Some("InvalidSecurityToken.Expired")),
        "never sent expired"
    );
}

#[test]
fn an_oidc_token_never_reaches_an_error() {
    let emu = Emulator::builder()
        .oidc_token("the-right-one")
        .start()
        .unwrap();
    let dir = TempDir::new("oidc-secret");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.a-secret-oidc-token").unwrap();
    let p = OidcRoleProvider::new(ROLE_ARN, OIDC_PROVIDER_ARN, &token_file)
        .sts_endpoint(emu.sts_endpoint());
    let c = client(&emu, p);
    let e = prepare(&c).unwrap_err();
    let shown = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
    assert!(shown.contains("AuthenticationFail.OIDCToken"), "{shown}");
    assert!(!shown.contains("a-secret-oidc-token"), "{shown}");
    assert!(!format!("{c:?}").contains("a-secret-oidc-token"));
}
