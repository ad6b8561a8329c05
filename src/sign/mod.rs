//! The request signatures, as pure functions: no I/O, no clock, so each is
//! checked byte for byte against vectors the official SDKs produced
//! (`tests/data/*.json`).
//!
//! - [`rpc_v1`]: RPC signature 1.0 (HMAC-SHA1), what the client signs ENS
//!   calls with by default.
//! - [`acs3_hmac_sha256`]: signature V3 (`ACS3-HMAC-SHA256`), what the
//!   current official SDKs send by default.
//! - [`oss_v1`]: OSS header signature V1 (HMAC-SHA1).
//! - [`oss_v4`]: OSS signature V4 (`OSS4-HMAC-SHA256`), what OSS requires
//!   of accounts and buckets created since 2025.
//! - [`percent_encode`] / [`percent_decode`]: the encoding they share.

mod acs3;
mod encode;
mod nonce;
mod oss_v1;
mod oss_v4;
mod rpc_v1;

pub use acs3::{acs3_hmac_sha256, sha256_hex, Acs3Signature, ACS3_ALGORITHM};
pub use encode::{percent_decode, percent_encode};
pub use oss_v1::{oss_canonical_resource, oss_v1, OssV1Signature, OSS_SIGNED_SUBRESOURCES};
pub use oss_v4::{oss_v4, OssV4Signature, OSS_V4_ALGORITHM};
pub use rpc_v1::{rpc_v1, RpcV1Signature};

pub(crate) use encode::percent_encode_into;
pub(crate) use nonce::new_nonce;
#[allow(unused_imports)]
pub(crate) use oss_v1::is_oss_header;
pub(crate) use oss_v4::UNSIGNED_PAYLOAD;
pub(crate) use rpc_v1::RpcSigner;

/// Formats `t` as `YYYY-MM-DDThh:mm:ssZ` (UTC), the `Timestamp` format.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(1_704_164_645);
/// assert_eq!(ens_upload::sign::format_timestamp(t), "2024-01-02T03:04:05Z");
/// ```
pub fn format_timestamp(t: std::time::SystemTime) -> String {
    let unix = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    crate::clock::format_iso8601(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_unique_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2000).map(|_| new_nonce()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for h in handles {
            for n in h.join().unwrap() {
                assert_eq!(n.len(), 32);
                assert!(all.insert(n), "duplicate nonce");
            }
        }
    }

    #[test]
    fn timestamp_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_704_164_645);
        assert_eq!(format_timestamp(t), "2024-01-02T03:04:05Z");
        assert_eq!(format_timestamp(std::time::SystemTime::now()).len(), 20);
    }

    #[test]
    fn percent_decoding_round_trips_and_tolerates_junk() {
        for s in ["a b", "bücket-测试", "*~%&=+/"] {
            assert_eq!(
                percent_decode(&percent_encode(s), false).as_deref(),
                Some(s)
            );
        }
        assert_eq!(percent_decode("a+b%2", true).as_deref(), Some("a b%2"));
        assert_eq!(percent_decode("%zz", false).as_deref(), Some("%zz"));
        assert_eq!(percent_decode("%ff", false), None);
    }
}
