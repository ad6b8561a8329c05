//! The default credential chain through the public API, with real
//! environment variables and temporary files. One test function, because
//! the process environment is shared by every thread of this binary.

mod common;

use common::TempDir;
use ens_upload::emulator::{self, Emulator};
use ens_upload::{Client, Credentials, Error, PrepareUploadRequest};

const VARS: &[&str] = &[
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIBABA_CLOUD_CREDENTIALS_FILE",
    "ALIBABA_CLOUD_PROFILE",
];

fn clear_env() {
    for v in VARS {
        std::env::remove_var(v);
    }
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

    // Nothing anywhere: the error names all three places.
    match Credentials::from_default_chain().unwrap_err() {
        Error::NoCredentials { looked_in, .. } => {
            assert_eq!(looked_in.len(), 3, "{looked_in:?}");
            assert!(looked_in[0].contains("ALIBABA_CLOUD_ACCESS_KEY_ID"));
            assert!(looked_in[1].contains(".alibabacloud/credentials.ini"));
            assert!(looked_in[2].contains(".aliyun/config.json"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Credentials::from_env(),
        Err(Error::Credentials { .. })
    ));
    assert!(matches!(
        Client::builder().build(),
        Err(Error::NoCredentials { .. })
    ));

    // 3. ~/.aliyun/config.json, its current profile.
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

    // 2. The credentials file wins over config.json.
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

    // The profile variable picks another section; one missing from the ini
    // falls through to config.json.
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
}
