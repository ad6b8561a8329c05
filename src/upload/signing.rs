//! Which OSS signature an upload sends, and the one switch from V1 to V4.
//!
//! OSS stopped accepting signature V1 from new accounts (2025-03-01) and
//! new buckets (2025-09-01). V4 needs the bucket's region in its scope, so:
//! V4 whenever the region is known (set with [`UploadOptions::region`] or
//! read from an OSS regional endpoint such as `oss-cn-hangzhou.aliyuncs.com`),
//! V1 otherwise (the ENS edge storage endpoint `eos.aliyuncs.com` names no
//! region, and V1 is what the official C/C++ SDKs send by default). When OSS
//! refuses V1 as V1, the upload switches to V4 if it knows a region, and
//! otherwise fails with an error that says to set one.
//!
//! [`UploadOptions::region`]: super::UploadOptions::region

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// The OSS signature to send; see [`UploadOptions::oss_signature`](super::UploadOptions::oss_signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OssSignature {
    /// OSS header signature V1 (HMAC-SHA1). Refused by accounts and buckets
    /// created since 2025.
    V1,
    /// OSS signature V4 (`OSS4-HMAC-SHA256`); needs the bucket's region.
    V4,
}

/// OSS's `EC` for "signature V1 is not supported".
pub(crate) const V1_REFUSED_EC: &str = "0002-00000080";

/// An upload's signature: the region for V4, and whether V4 is in use
/// (shared by the upload's threads, so one switch serves them all).
#[derive(Debug)]
pub(crate) struct Signing {
    region: Option<String>,
    v4: AtomicBool,
}

impl Signing {
    /// The choice for an upload to `endpoint_host` with the caller's
    /// `region` and `signature`, if set.
    pub(crate) fn choose(
        endpoint_host: &str,
        region: Option<&str>,
        signature: Option<OssSignature>,
    ) -> Result<Signing> {
        let region = region
            .map(str::to_owned)
            .or_else(|| region_of_endpoint(endpoint_host));
        let v4 = match (signature, &region) {
            (Some(OssSignature::V4), None) => {
                return Err(Error::invalid_input(
                    "region",
                    format!(
                        "OSS signature V4 needs the bucket's region, and {endpoint_host} names none: set one (UploadOptions::region, C ens_upload_options_set_region, CLI --region)"
                    ),
                ))
            }
            (Some(OssSignature::V4), Some(_)) => true,
            (Some(OssSignature::V1), _) => false,
            (None, region) => region.is_some(),
        };
        log::debug!(
            "OSS signature {} for {endpoint_host} (region {})",
            if v4 { "V4" } else { "V1" },
            region.as_deref().unwrap_or("unknown")
        );
        Ok(Signing {
            region,
            v4: AtomicBool::new(v4),
        })
    }

    /// The region to sign V4 with, while V4 is in use.
    pub(crate) fn v4_region(&self) -> Option<&str> {
        if self.v4.load(Ordering::Relaxed) {
            self.region.as_deref()
        } else {
            None
        }
    }

    /// Looks at an OSS error to a V1 request. When OSS refused V1 as V1:
    /// with a region known, the upload switches to V4 and `true` says to
    /// sign again at once; without one, the error comes back saying what it
    /// means and how to fix it. Any other error comes back as it is.
    pub(crate) fn on_v1_error(&self, e: Error) -> (Error, bool) {
        if !is_v1_refusal(&e) {
            return (e, false);
        }
        if self.region.is_some() {
            self.v4.store(true, Ordering::Relaxed);
            log::info!("OSS refused signature V1; signing with V4 from now on");
            return (e, true);
        }
        (explain_v1_refusal(e), false)
    }
}

/// Whether OSS refused a request for being signed with V1: its `EC`, or a
/// message saying so.
fn is_v1_refusal(e: &Error) -> bool {
    e.api().is_some_and(|a| {
        let m = a.message.to_ascii_lowercase();
        a.http_status == 403
            && (a.ec == V1_REFUSED_EC
                || (m.contains("signature") && (m.contains("version 1") || m.contains("v1"))))
    })
}

/// The refusal with what it means and the fix in its message.
fn explain_v1_refusal(e: Error) -> Error {
    match e {
        Error::Api(mut api) => {
            api.message = format!(
                "OSS refused signature V1 (new accounts and buckets need signature V4): set the bucket's region (UploadOptions::region, C ens_upload_options_set_region, CLI --region) so uploads sign with V4. The server said: {}",
                api.message
            );
            Error::Api(api)
        }
        other => other,
    }
}

/// The region an OSS regional endpoint names: `oss-cn-hangzhou.aliyuncs.com`
/// and `oss-cn-hangzhou-internal.aliyuncs.com` give `cn-hangzhou` (with or
/// without a bucket in front and a port after).
pub(crate) fn region_of_endpoint(host: &str) -> Option<String> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let name = host.strip_suffix(".aliyuncs.com")?;
    let label = name.rsplit('.').next()?;
    let region = label.strip_prefix("oss-")?;
    let region = region.strip_suffix("-internal").unwrap_or(region);
    let valid = !region.is_empty()
        && region != "accelerate"
        && region != "accelerate-overseas"
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then(|| region.to_owned())
}

/// Checks a region id set by the caller: `cn-hangzhou`, not `oss-cn-hangzhou`.
pub(crate) fn validate_region(region: &str) -> Result<()> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && !region.starts_with("oss-")
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "region",
            format!(
                "{:?} is not a region id such as cn-hangzhou (lowercase letters, digits and '-', without the oss- prefix)",
                crate::prepare_upload::truncate_for_message(region)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_oss_regional_endpoints_only() {
        for (host, want) in [
            ("oss-cn-hangzhou.aliyuncs.com", Some("cn-hangzhou")),
            ("bkt.oss-cn-hangzhou.aliyuncs.com", Some("cn-hangzhou")),
            (
                "oss-ap-southeast-1-internal.aliyuncs.com:443",
                Some("ap-southeast-1"),
            ),
            ("OSS-US-WEST-1.ALIYUNCS.COM", Some("us-west-1")),
            ("eos.aliyuncs.com", None),
            ("oss-accelerate.aliyuncs.com", None),
            ("127.0.0.1:8080", None),
            ("oss-cn-hangzhou.example.com", None),
        ] {
            assert_eq!(region_of_endpoint(host).as_deref(), want, "{host}");
        }
    }

    #[test]
    fn v4_whenever_the_region_is_known() {
        let v4 = |host, region, sig| {
            Signing::choose(host, region, sig)
                .map(|s| s.v4_region().map(str::to_owned))
                .map_err(|e| e.to_string())
        };
        assert_eq!(v4("eos.aliyuncs.com", None, None), Ok(None));
        assert_eq!(
            v4("oss-cn-beijing.aliyuncs.com", None, None),
            Ok(Some("cn-beijing".into()))
        );
        assert_eq!(
            v4("eos.aliyuncs.com", Some("cn-shanghai"), None),
            Ok(Some("cn-shanghai".into()))
        );
        assert_eq!(
            v4("oss-cn-beijing.aliyuncs.com", None, Some(OssSignature::V1)),
            Ok(None)
        );
        let e = v4("eos.aliyuncs.com", None, Some(OssSignature::V4)).unwrap_err();
        assert!(e.contains("region") && e.contains("--region"), "{e}");
    }

    #[test]
    fn region_ids_are_checked() {
        assert!(validate_region("cn-hangzhou").is_ok());
        for bad in ["", "oss-cn-hangzhou", "CN", "cn hangzhou", "a/b"] {
            assert!(validate_region(bad).is_err(), "{bad}");
        }
    }
}
