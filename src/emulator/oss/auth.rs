//! Who signed an OSS request: header signature V1 (`OSS <id>:<sig>`) with
//! the emulator's keys, their STS tokens, and a `Date` within 15 minutes.

use super::super::{KeyState, TIMESTAMP_TOLERANCE};
use super::{failure, Failure, Session};
use crate::sign;

impl Session<'_> {
    /// OSS header signature V1 with a known key, its STS token, and a
    /// `Date` within 15 minutes.
    pub(super) fn authenticate(&self, bucket: &str, key: &str) -> Result<(), Failure> {
        let denied = |m: &str| failure(403, "AccessDenied", m);
        let auth = self.req.header("authorization").ok_or_else(|| {
            denied("You have no right to access this object because of bucket acl.")
        })?;
        let (id, signature) = auth
            .strip_prefix("OSS ")
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(|| failure(400, "InvalidArgument", "Authorization header is invalid."))?;
        let date = self.req.header("date").unwrap_or("");
        let Some(when) = crate::clock::parse_http_date(date) else {
            return Err(denied("OSS authentication requires a valid Date."));
        };
        let now = self.shared.now();
        if when.abs_diff(now) > TIMESTAMP_TOLERANCE.as_secs() {
            return Err(failure(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
        let Some(k) = self.shared.config.keys.get(id) else {
            return Err(failure(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
            ));
        };
        let token = self.req.header("x-oss-security-token");
        match (&k.token, token) {
            (Some(want), Some(got)) if want == got => {}
            (None, None) => {}
            _ => {
                return Err(failure(
                    403,
                    "InvalidSecurityToken",
                    "The security token you provided is invalid.",
                ))
            }
        }
        if k.state != KeyState::Active {
            return Err(denied("The AccessKey may not access this bucket."));
        }
        let sub: Vec<(&str, Option<&str>)> = self
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let resource = sign::oss_canonical_resource(Some(bucket), key, &sub);
        let expected = sign::oss_v1(
            &self.req.method,
            self.req.header("content-md5").unwrap_or(""),
            self.req.header("content-type").unwrap_or(""),
            date,
            &self.req.headers,
            &resource,
            &k.secret,
        );
        if expected.signature != signature {
            let mut f = failure(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            );
            f.string_to_sign = Some(expected.string_to_sign);
            return Err(f);
        }
        Ok(())
    }
}
