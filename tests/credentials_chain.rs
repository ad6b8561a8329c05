//! The default credential chain through the public API, with real
//! environment variables and temporary files. One test function, because
//! the process environment is shared by every thread of this binary.

mod common;

use common::TempDir;
use ens_upload::emulator::{self, Emulator, IssuedBy};
use ens_upload::{Client, Credentials, Error, PrepareUploadRequest};

const VARS: &[&str] = &[
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIBABA_CLOUD_CREDENTIALS_FILE",
    "ALIBABA_CLOUD_PROFILE",
    "ALIBABA_CLOUD_ROLE_ARN",
    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    "ALIBABA_CLOUD_ROLE_SESSION_NAME",
    "ALIBABA_CLOUD_CLI_PROFILE_DISABLED",
    "ALIBABA_CLOUD_CREDENTIALS_URI",
    "ALIBABA_CLOUD_ECS_METADATA",
    "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT",
    "ALIBABA_CLOUD_STS_ENDPOINT",
    "ALIBABA_CLOUD_STS_REGION",
];

/// No variable of the chain's set, and the ECS step off (this is not an
/// ECS instance: asking 100.100.100.200 would only wait).
fn clear_env() {
    for v in VARS {
        std::env::remove_var(v);
    }
    std::env::set_var("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
}

/// A home with the two directories the chain reads from.
fn temp_home() -> TempDir {
    let home = TempDir::new("home");
    std::fs::create_dir_all(home.join(".alibabacloud")).unwrap();
    std::fs::create_dir_all(home.join(".aliyun")).unwrap();
    home
}

#[test]
fn the_default_chain_in_order() {
    let home = temp_home();
    std::env::set_var("HOME", home.path());
    clear_env();

    // Nothing anywhere: the error names every place, in the chain's order.
    match Credentials::from_default_chain().unwrap_err() {
        Error::NoCredentials { looked_in, .. } => {
            assert_eq!(looked_in.len(), 5, "{looked_in:?}");
            assert!(looked_in[0].contains("ALIBABA_CLOUD_ACCESS_KEY_ID"));
            assert!(looked_in[1].contains("ALIBABA_CLOUD_ROLE_ARN"));
            assert!(looked_in[2].contains(".aliyun/config.json"));
            assert!(looked_in[3].contains(".alibabacloud/credentials.ini"));
            assert!(looked_in[4].contains("not asked"), "{looked_in:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Credentials::from_env(),
        Err(Error::Credentials { .. })
    ));
    match Client::builder().build().unwrap_err() {
        Error::NoCredentials { looked_in, .. } => {
            assert_eq!(looked_in.len(), 6, "{looked_in:?}");
            assert!(looked_in[4].contains("ALIBABA_CLOUD_ECS_METADATA_DISABLED=true"));
            assert!(looked_in[5].contains("ALIBABA_CLOUD_CREDENTIALS_URI not set"));
        }
        other => panic!("{other:?}"),
    }
    // With the ECS step on, build() leaves it to the first request.
    std::env::remove_var("ALIBABA_CLOUD_ECS_METADATA_DISABLED");
    let pending = Client::builder().build().unwrap();
    assert_eq!(
        pending.credentials_source(),
        "default chain (ECS RAM role at http://100.100.100.200)"
    );
    std::env::set_var("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");

    // The credentials file.
    std::fs::write(
        home.join(".alibabacloud/credentials.ini"),
        format!(
            "[default]\ntype = access_key\naccess_key_id = {}\naccess_key_secret = {}\n\n[other]\ntype = access_key\naccess_key_id = INI-OTHER\naccess_key_secret = s\n",
            emulator::TEST_ACCESS_KEY_ID,
            emulator::TEST_ACCESS_KEY_SECRET
        ),
    )
    .unwrap();
    let c = Credentials::from_default_chain().unwrap();
    assert_eq!(c.access_key_id(), emulator::TEST_ACCESS_KEY_ID);
    assert!(c.source().contains("credentials.ini"), "{}", c.source());

    // ~/.aliyun/config.json now comes before the credentials file (the
    // official order; it came after before issue 11).
    std::fs::write(
        home.join(".aliyun/config.json"),
        r#"{"current":"dev","profiles":[
            {"name":"dev","mode":"StsToken","access_key_id":"CLI-STS","access_key_secret":"s","sts_token":"t"},
            {"name":"ak","mode":"AK","access_key_id":"CLI-AK","access_key_secret":"s"}]}"#,
    )
    .unwrap();
    let c = Credentials::from_default_chain().unwrap();
    assert_eq!(c.access_key_id(), "CLI-STS");
    assert!(c.is_sts());
    assert_eq!(
        Credentials::from_profile("ak").unwrap().access_key_id(),
        "CLI-AK"
    );
    std::env::set_var("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true");
    assert_eq!(
        Credentials::from_default_chain().unwrap().access_key_id(),
        emulator::TEST_ACCESS_KEY_ID,
        "config.json skipped"
    );
    std::env::remove_var("ALIBABA_CLOUD_CLI_PROFILE_DISABLED");

    // The profile variable picks another profile; one missing from
    // config.json falls through to the credentials file.
    std::env::set_var("ALIBABA_CLOUD_PROFILE", "other");
    assert_eq!(
        Credentials::from_default_chain().unwrap().access_key_id(),
        "INI-OTHER"
    );
    std::env::set_var("ALIBABA_CLOUD_PROFILE", "ak");
    assert_eq!(
        Credentials::from_default_chain().unwrap().access_key_id(),
        "CLI-AK"
    );
    std::env::remove_var("ALIBABA_CLOUD_PROFILE");
    std::fs::remove_file(home.join(".aliyun/config.json")).unwrap();

    // ALIBABA_CLOUD_CREDENTIALS_FILE names another file.
    let elsewhere = home.join("elsewhere.ini");
    std::fs::write(
        &elsewhere,
        "[default]\ntype = sts\naccess_key_id = FILE-STS\naccess_key_secret = s\nsecurity_token = t\n",
    )
    .unwrap();
    std::env::set_var("ALIBABA_CLOUD_CREDENTIALS_FILE", &elsewhere);
    let c = Credentials::from_default_chain().unwrap();
    assert_eq!(c.access_key_id(), "FILE-STS");
    assert!(c.is_sts());
    std::env::set_var("ALIBABA_CLOUD_CREDENTIALS_FILE", home.join("missing.ini"));
    let e = Credentials::from_default_chain().unwrap_err();
    assert!(e.to_string().contains("missing.ini"), "{e}");
    std::env::remove_var("ALIBABA_CLOUD_CREDENTIALS_FILE");

    // Profiles that fetch: a client built without credentials assumes the
    // role of a config.json profile at the STS the builder names, and
    // with nothing offline asks the ECS metadata server.
    let emu = Emulator::start().unwrap();
    std::fs::write(
        home.join(".aliyun/config.json"),
        format!(
            r#"{{"current":"role","profiles":[{{"name":"role","mode":"RamRoleArn",
            "access_key_id":"{}","access_key_secret":"{}",
            "ram_role_arn":"acs:ram::1234567890123456:role/uploader","ram_session_name":"chain-test"}}]}}"#,
            emulator::TEST_ACCESS_KEY_ID,
            emulator::TEST_ACCESS_KEY_SECRET
        ),
    )
    .unwrap();
    let e = Credentials::from_default_chain().unwrap_err();
    assert!(e.to_string().contains("DefaultCredentialsChain"), "{e}");
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .sts_endpoint(emu.sts_endpoint())
        .build()
        .unwrap();
    assert!(
        client
            .credentials_source()
            .starts_with("AssumeRole acs:ram::1234567890123456:role/uploader"),
        "{}",
        client.credentials_source()
    );
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert_eq!(emu.issued_credentials(IssuedBy::AssumeRole), 1);
    std::fs::remove_file(home.join(".aliyun/config.json")).unwrap();
    std::fs::remove_file(home.join(".alibabacloud/credentials.ini")).unwrap();
    std::env::remove_var("ALIBABA_CLOUD_ECS_METADATA_DISABLED");
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .ecs_metadata_endpoint(emu.ecs_metadata_endpoint())
        .build()
        .unwrap();
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert_eq!(emu.issued_credentials(IssuedBy::EcsMetadata), 1);
    assert!(
        client.credentials_source().contains("ECS RAM role"),
        "{}",
        client.credentials_source()
    );
    std::env::set_var("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    drop(emu);

    // 1. The environment wins over everything; with a token it is STS.
    std::env::set_var(
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        emulator::TEST_STS_ACCESS_KEY_ID,
    );
    std::env::set_var(
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        emulator::TEST_STS_ACCESS_KEY_SECRET,
    );
    std::env::set_var(
        "ALIBABA_CLOUD_SECURITY_TOKEN",
        emulator::TEST_SECURITY_TOKEN,
    );
    let c = Credentials::from_env().unwrap();
    assert_eq!(c.access_key_id(), emulator::TEST_STS_ACCESS_KEY_ID);
    assert!(c.is_sts());
    assert_eq!(c.source(), "environment");
    assert!(!format!("{c:?}").contains(emulator::TEST_STS_ACCESS_KEY_SECRET));

    // A client without explicit credentials uses the chain, and the
    // emulator accepts what it signs.
    let emu = Emulator::start().unwrap();
    let client = Client::builder().endpoint(emu.endpoint()).build().unwrap();
    client
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap();
    assert_eq!(
        emu.requests()[0].param("SecurityToken"),
        Some(emulator::TEST_SECURITY_TOKEN)
    );

    // Half-set environment is an error, not a silent fall-through.
    std::env::remove_var("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    let e = Credentials::from_default_chain().unwrap_err();
    assert!(
        e.to_string().contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        "{e}"
    );

    clear_env();
    std::env::remove_var("ALIBABA_CLOUD_ECS_METADATA_DISABLED");
}
