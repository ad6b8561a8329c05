//! Every profile type of `credentials.ini` and mode of the aliyun CLI's
//! `config.json`, end to end: a temporary home holds the files, a client is
//! built with `.profile(name)` (the default chain), and its first
//! `PrepareUpload` reaches the emulator signed with what the profile gave;
//! the STS and metadata services it asked are counted.
//!
//! One test function: it sets `HOME` and clears `ALIBABA_CLOUD_*` for the
//! whole process, which parallel tests must not see half-done.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{prepare_test, TempDir};
use ens_upload::emulator::{
    Emulator, IssuedBy, DEFAULT_ECS_ROLE_NAME, TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET,
    TEST_SECURITY_TOKEN, TEST_STS_ACCESS_KEY_ID, TEST_STS_ACCESS_KEY_SECRET,
};
use ens_upload::Client;

const ROLE: &str = "acs:ram::1234567890123456:role/uploader";
const OIDC_PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa";

#[test]
fn every_profile_type_and_mode_signs_requests_the_emulator_accepts() {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ALIBABA_CLOUD_") {
            std::env::remove_var(&name);
        }
    }
    std::env::set_var("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "false");
    let home = TempDir::new("profiles");
    std::env::set_var("HOME", home.path());
    let emu = Emulator::start().unwrap();

    let token_file = home.path().join("oidc-token");
    std::fs::write(&token_file, "a-token-for-the-role\n").unwrap();
    let script = home.path().join("credentials-helper");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' '{{\"mode\":\"AK\",\"access_key_id\":\"{TEST_ACCESS_KEY_ID}\",\"access_key_secret\":\"{TEST_ACCESS_KEY_SECRET}\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    std::fs::create_dir_all(home.path().join(".alibabacloud")).unwrap();
    std::fs::write(
        home.path().join(".alibabacloud/credentials.ini"),
        format!(
            "[ini-ak]\ntype = access_key\naccess_key_id = {TEST_ACCESS_KEY_ID}\naccess_key_secret = {TEST_ACCESS_KEY_SECRET}\n\
             [ini-sts]\ntype = sts\naccess_key_id = {TEST_STS_ACCESS_KEY_ID}\naccess_key_secret = {TEST_STS_ACCESS_KEY_SECRET}\nsecurity_token = {TEST_SECURITY_TOKEN}\n\
             [ini-ram]\ntype = ram_role_arn\naccess_key_id = {TEST_ACCESS_KEY_ID}\naccess_key_secret = {TEST_ACCESS_KEY_SECRET}\nrole_arn = {ROLE}\nrole_session_name = ini-session\n\
             [ini-oidc]\ntype = oidc_role_arn\nrole_arn = {ROLE}\noidc_provider_arn = {OIDC_PROVIDER}\noidc_token_file_path = {}\n\
             [ini-ecs]\ntype = ecs_ram_role\nrole_name = {DEFAULT_ECS_ROLE_NAME}\n",
            token_file.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(home.path().join(".aliyun")).unwrap();
    let profiles = serde_json::json!({
        "current": "cli-ak",
        "profiles": [
            {"name": "cli-ak", "mode": "AK", "access_key_id": TEST_ACCESS_KEY_ID, "access_key_secret": TEST_ACCESS_KEY_SECRET},
            {"name": "cli-sts", "mode": "StsToken", "access_key_id": TEST_STS_ACCESS_KEY_ID, "access_key_secret": TEST_STS_ACCESS_KEY_SECRET, "sts_token": TEST_SECURITY_TOKEN},
            {"name": "cli-ram", "mode": "RamRoleArn", "access_key_id": TEST_ACCESS_KEY_ID, "access_key_secret": TEST_ACCESS_KEY_SECRET, "ram_role_arn": ROLE, "ram_session_name": "cli-session"},
            {"name": "cli-ecs", "mode": "EcsRamRole", "ram_role_name": DEFAULT_ECS_ROLE_NAME},
            {"name": "cli-oidc", "mode": "OIDC", "ram_role_arn": ROLE, "oidc_provider_arn": OIDC_PROVIDER, "oidc_token_file": token_file.display().to_string()},
            {"name": "cli-chained", "mode": "ChainableRamRoleArn", "source_profile": "cli-ram", "ram_role_arn": "acs:ram::1234567890123456:role/second"},
            {"name": "cli-external", "mode": "External", "process_command": script.display().to_string()},
        ]
    });
    std::fs::write(
        home.path().join(".aliyun/config.json"),
        profiles.to_string(),
    )
    .unwrap();

    // (profile, what the source names, STS calls, metadata calls) it causes.
    let cases: &[(&str, &str, u64, u64)] = &[
        ("ini-ak", "[ini-ak]", 0, 0),
        ("ini-sts", "[ini-sts]", 0, 0),
        ("ini-ram", ROLE, 1, 0),
        ("ini-oidc", "AssumeRoleWithOIDC", 0, 0),
        ("ini-ecs", "ECS RAM role", 0, 1),
        ("cli-ak", "cli-ak", 0, 0),
        ("cli-sts", "cli-sts", 0, 0),
        ("cli-ram", ROLE, 1, 0),
        ("cli-ecs", "ECS RAM role", 0, 1),
        ("cli-oidc", "AssumeRoleWithOIDC", 0, 0),
        ("cli-chained", "role/second", 2, 0),
        ("cli-external", "credentials-helper", 0, 0),
    ];
    for &(profile, names, sts, ecs) in cases {
        let (sts_before, ecs_before, oidc_before) = (
            emu.issued_credentials(IssuedBy::AssumeRole),
            emu.issued_credentials(IssuedBy::EcsMetadata),
            emu.issued_credentials(IssuedBy::AssumeRoleWithOidc),
        );
        let client = Client::builder()
            .endpoint(emu.endpoint())
            .sts_endpoint(emu.sts_endpoint())
            .ecs_metadata_endpoint(emu.ecs_metadata_endpoint())
            .profile(profile)
            .build()
            .unwrap_or_else(|e| panic!("{profile}: {e}"));
        prepare_test(&client).unwrap_or_else(|e| panic!("{profile}: {e}"));
        let source = client.credentials_source();
        assert!(source.contains(names), "{profile}: {source}");
        assert!(
            !source.contains(TEST_ACCESS_KEY_SECRET),
            "{profile}: {source}"
        );
        assert_eq!(
            emu.issued_credentials(IssuedBy::AssumeRole) - sts_before,
            sts,
            "{profile}: AssumeRole calls"
        );
        assert_eq!(
            emu.issued_credentials(IssuedBy::EcsMetadata) - ecs_before,
            ecs,
            "{profile}: metadata calls"
        );
        let oidc = u64::from(profile.ends_with("oidc"));
        assert_eq!(
            emu.issued_credentials(IssuedBy::AssumeRoleWithOidc) - oidc_before,
            oidc,
            "{profile}: AssumeRoleWithOIDC calls"
        );
    }
    assert_eq!(
        emu.last_oidc_token().as_deref().map(str::trim),
        Some("a-token-for-the-role")
    );
}
