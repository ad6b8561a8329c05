//! Arbitrary text as a `credentials.ini` and as the `aliyun` CLI's
//! `config.json`, read with a few profile names. Never panics; whatever is
//! found is usable (non-empty AccessKey id, a source naming the profile).
//!
//! Input layout: byte 0 picks the profile names, the rest is the text
//! (lossy UTF-8, so every input is used).
#![no_main]

use ens_upload::Credentials;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    // A profile named in the text itself makes a match far more likely than
    // fixed names alone.
    let from_text = text
        .lines()
        .find_map(|l| l.trim().strip_prefix('['))
        .map(|r| r.strip_suffix(']').unwrap_or(r).trim().to_owned())
        .unwrap_or_default();
    let fixed = ["default", "", "dev", "sts"][usize::from(pick & 3)];

    for profile in [fixed, from_text.as_str()] {
        match Credentials::from_ini_str(&text, profile) {
            Ok(Some(c)) => {
                assert!(!c.access_key_id().is_empty());
                assert_eq!(c.source(), format!("credentials file <text> [{profile}]"));
                let _ = format!("{c:?}");
            }
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    let cli_profile = if pick & 4 == 0 { None } else { Some(fixed) };
    match Credentials::from_cli_config_str(&text, cli_profile) {
        Ok(Some(c)) => {
            assert!(!c.access_key_id().is_empty());
            assert!(c.source().starts_with("<text> profile "));
            let _ = format!("{c:?}");
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
