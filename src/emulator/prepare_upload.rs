//! The `PrepareUpload` action: which bucket and endpoint a device uploads to.

use super::rpc::{fail, param, ApiFailure};
use super::{KeyState, Shared};

pub(super) fn prepare_upload(
    state: KeyState,
    params: &[(String, String)],
    shared: &Shared,
    request_id: &str,
) -> Result<serde_json::Value, ApiFailure> {
    let get = |name: &str| param(params, name);
    match state {
        KeyState::Active => {}
        KeyState::AccessDenied => return Err(fail(403, "AccessDenied", "Auth is not valid.")),
        KeyState::UserDisable => {
            return Err(fail(
                403,
                "UserDisable",
                "The user has been disabled due to arrears.",
            ))
        }
        KeyState::NoPermission => return Err(fail(400, "NoPermission", "Permission denied.")),
    }
    let Some(bucket) = get("BucketName") else {
        return Err(fail(
            400,
            "MissingBucketName",
            "BucketName is mandatory for this action.",
        ));
    };
    if !is_valid_bucket_name(bucket) {
        return Err(fail(
            400,
            "InvalidBucketName",
            "Specified parameter BucketName is not valid",
        ));
    }
    if let Some(ip) = get("ClientIp") {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(fail(
                400,
                "InvalidClientIp",
                "Specified parameter ClientIp is not valid",
            ));
        }
    }
    if let Some(uid) = get("aliUid") {
        if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail(
                400,
                "InvalidaliUid",
                "Specified parameter aliUid is not valid",
            ));
        }
    }
    if let Some(region) = get("EnsRegionId") {
        if region.is_empty() {
            return Err(fail(
                400,
                "InvalidParameter.EnsRegionId",
                "The specified field EnsRegionId invalid. Please check it again.",
            ));
        }
    }
    if !shared.config.buckets.contains(bucket) {
        return Err(fail(
            404,
            "NoSuchBucket",
            format!(
                "The specified bucket does not exist. This emulator knows: {} (more: the standalone emulator's --bucket NAME, or EmulatorBuilder::bucket).",
                known_buckets(shared)
            ),
        ));
    }
    Ok(serde_json::json!({
        "RequestId": request_id,
        "BucketName": physical_bucket(bucket),
        "Endpoint": shared.oss_endpoint,
    }))
}

/// The buckets the emulator knows, sorted, comma-separated.
pub(super) fn known_buckets(shared: &Shared) -> String {
    let mut names: Vec<&str> = shared.config.buckets.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.join(", ")
}

/// OSS bucket naming: 3 to 63 of `a-z 0-9 -`, not starting or ending with `-`.
fn is_valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The physical bucket behind a logical one: stable, `<name>-<6 hex>`.
pub(super) fn physical_bucket(name: &str) -> String {
    // FNV-1a: stable across runs, unlike std's RandomState.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("{name}-{:06x}", h & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(is_valid_bucket_name("test"));
        assert!(is_valid_bucket_name("my-bucket-01"));
        for bad in [
            "ab",
            "-ab",
            "ab-",
            "Upper",
            "has space",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
        assert_eq!(physical_bucket("test"), physical_bucket("test"));
        assert!(physical_bucket("test").starts_with("test-"));
    }
}
