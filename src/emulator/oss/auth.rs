//! Who signed an OSS request: header signature V4 (`OSS4-HMAC-SHA256
//! Credential=...`) with an `x-oss-date`, or V1 (`OSS <id>:<sig>`) with a
//! `Date`, either within 15 minutes, by one of the emulator's keys with its
//! STS token. Errors are OSS's, with its `<EC>` codes where they are known.

use super::super::builder::Key;
use super::super::{KeyState, TIMESTAMP_TOLERANCE};
use super::{failure, Failure, Session};
use crate::sign::{self, OSS_V4_ALGORITHM};

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";

/// The fields of a V4 `Authorization` header.
struct V4Authorization<'a> {
    access_key_id: &'a str,
    /// `YYYYMMDD`, from the credential scope.
    date: &'a str,
    region: &'a str,
    additional_headers: Vec<&'a str>,
    signature: &'a str,
}

impl Session<'_> {
    /// Checks the request's signature, whichever version it came in.
    pub(super) fn authenticate(&self, bucket: &str, key: &str) -> Result<(), Failure> {
        let auth = self.req.header("authorization").ok_or_else(|| {
            failure(
                403,
                "AccessDenied",
                "You have no right to access this object because of bucket acl.",
            )
        })?;
        if let Some(fields) = auth.strip_prefix(OSS_V4_ALGORITHM) {
            return self.authenticate_v4(bucket, key, fields);
        }
        if auth.starts_with("OSS ") && self.shared.config.oss_refuse_v1 {
            return Err(failure(
                403,
                "AccessDenied",
                "Signature version 1 is no longer supported for this bucket; sign requests with signature V4 (OSS4-HMAC-SHA256).",
            )
            .with_ec("0002-00000080"));
        }
        self.authenticate_v1(bucket, key, auth)
    }

    /// OSS header signature V1 with a `Date` within 15 minutes.
    fn authenticate_v1(&self, bucket: &str, key: &str, auth: &str) -> Result<(), Failure> {
        let (id, signature) = auth
            .strip_prefix("OSS ")
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(invalid_authorization)?;
        let date = self.req.header("date").unwrap_or("");
        let Some(when) = crate::clock::parse_http_date(date) else {
            return Err(denied("OSS authentication requires a valid Date."));
        };
        self.check_time(when)?;
        let k = self.known_key(id)?;
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
            let mut f = failure(403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH);
            f.string_to_sign = Some(expected.string_to_sign);
            return Err(f);
        }
        Ok(())
    }

    /// OSS header signature V4: the credential scope (region checked when
    /// the emulator has one), an `x-oss-date` within 15 minutes, and the
    /// signature over the canonical request.
    fn authenticate_v4(&self, bucket: &str, key: &str, fields: &str) -> Result<(), Failure> {
        let auth = parse_v4(fields)?;
        if auth.region.is_empty()
            || self
                .shared
                .config
                .oss_region
                .as_deref()
                .is_some_and(|want| want != auth.region)
        {
            return Err(failure(
                400,
                "InvalidArgument",
                "Invalid signing region in Authorization header.",
            )
            .with_ec("0002-00000226"));
        }
        let oss_date = self.req.header("x-oss-date").unwrap_or("");
        let Some(when) = parse_oss_date(oss_date) else {
            return Err(denied(
                "OSS signature V4 requires a valid x-oss-date (YYYYMMDDTHHMMSSZ).",
            ));
        };
        self.check_time(when)?;
        if !oss_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(failure(
                400,
                "InvalidArgument",
                "Invalid signing date in Authorization header.",
            ));
        }
        match self.req.header("x-oss-content-sha256") {
            Some("UNSIGNED-PAYLOAD") => {}
            _ => {
                return Err(failure(
                    400,
                    "InvalidArgument",
                    "x-oss-content-sha256 must be UNSIGNED-PAYLOAD with signature V4.",
                ))
            }
        }
        let k = self.known_key(auth.access_key_id)?;
        let query: Vec<(&str, Option<&str>)> = self
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let expected = sign::oss_v4(
            &self.req.method,
            Some(bucket),
            key,
            &query,
            &self.req.headers,
            &auth.additional_headers,
            auth.region,
            oss_date,
            &k.secret,
        );
        let listed = auth.additional_headers.join(";");
        if expected.signature != auth.signature || expected.additional_headers != listed {
            let mut f = failure(403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH);
            f.canonical_request = Some(expected.canonical_request);
            f.string_to_sign = Some(expected.string_to_sign);
            return Err(f);
        }
        Ok(())
    }

    /// A request time within 15 minutes of the emulator's clock.
    fn check_time(&self, when: i64) -> Result<(), Failure> {
        if when.abs_diff(self.shared.now()) > TIMESTAMP_TOLERANCE.as_secs() {
            return Err(failure(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
        Ok(())
    }

    /// The key `id` (configured or issued), active, with its STS token when
    /// it has one, not expired.
    fn known_key(&self, id: &str) -> Result<Key, Failure> {
        let Some(k) = self.shared.key(id) else {
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
        if k.expires_at
            .is_some_and(|expiry| self.shared.now() >= expiry)
        {
            return Err(failure(
                403,
                "SecurityTokenExpired",
                "The security token you provided has expired.",
            )
            .with_ec("0002-00000007"));
        }
        if k.state != KeyState::Active {
            return Err(denied("The AccessKey may not access this bucket."));
        }
        Ok(k)
    }
}

fn denied(message: &str) -> Failure {
    failure(403, "AccessDenied", message)
}

fn invalid_authorization() -> Failure {
    failure(400, "InvalidArgument", "Authorization header is invalid.")
}

/// ` Credential=<id>/<date>/<region>/oss/aliyun_v4_request,
/// [AdditionalHeaders=<a;b>,]Signature=<hex>`: fields in any order, `,` or
/// `, ` between them (the official SDKs send either).
fn parse_v4(fields: &str) -> Result<V4Authorization<'_>, Failure> {
    let fields = fields.strip_prefix(' ').ok_or_else(invalid_authorization)?;
    let (mut credential, mut additional, mut signature) = (None, None, None);
    for field in fields.split(',') {
        let (name, value) = field
            .trim()
            .split_once('=')
            .ok_or_else(invalid_authorization)?;
        let slot = match name {
            "Credential" => &mut credential,
            "AdditionalHeaders" => &mut additional,
            "Signature" => &mut signature,
            _ => return Err(invalid_authorization()),
        };
        if slot.replace(value).is_some() {
            return Err(invalid_authorization());
        }
    }
    let (Some(credential), Some(signature)) = (credential, signature) else {
        return Err(invalid_authorization());
    };
    // The key id may hold no `/`; the scope is the last four parts.
    let mut scope = credential.rsplitn(5, '/');
    let (Some(terminator), Some(product), Some(region), Some(date), Some(access_key_id)) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(failure(
            400,
            "InvalidArgument",
            "Invalid credential in Authorization header.",
        ));
    };
    if product != "oss" {
        return Err(failure(
            400,
            "InvalidArgument",
            "Invalid signing product in Authorization header.",
        )
        .with_ec("0002-00000227"));
    }
    if terminator != "aliyun_v4_request" || access_key_id.is_empty() {
        return Err(failure(
            400,
            "InvalidArgument",
            "Invalid credential in Authorization header.",
        ));
    }
    Ok(V4Authorization {
        access_key_id,
        date,
        region,
        additional_headers: additional
            .map(|a| a.split(';').filter(|h| !h.is_empty()).collect())
            .unwrap_or_default(),
        signature,
    })
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds.
fn parse_oss_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || !digits(0..8) || !digits(9..15) {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    crate::clock::parse_iso8601_utc(&iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_authorization_fields_in_either_sdk_shape() {
        // alibabacloud-oss-v2: `,`; oss2: `, ` and AdditionalHeaders last.
        for fields in [
            " Credential=AK/20240506/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=host,Signature=ab",
            " Credential=AK/20240506/cn-hangzhou/oss/aliyun_v4_request, Signature=ab, AdditionalHeaders=host",
        ] {
            let a = parse_v4(fields).unwrap_or_else(|f| panic!("{}", f.message));
            assert_eq!(
                (a.access_key_id, a.date, a.region, a.signature),
                ("AK", "20240506", "cn-hangzhou", "ab")
            );
            assert_eq!(a.additional_headers, ["host"]);
        }
        let refused = |fields: &str| parse_v4(fields).err().map(|f| (f.status, f.message, f.ec));
        assert_eq!(
            refused(" Credential=AK/20240506/cn-hangzhou/s3/aliyun_v4_request,Signature=ab"),
            Some((
                400,
                "Invalid signing product in Authorization header.".into(),
                Some("0002-00000227")
            ))
        );
        for bad in [
            "Credential=AK/20240506/cn-hangzhou/oss/aliyun_v4_request,Signature=ab",
            " Credential=AK/20240506/cn-hangzhou/oss/aliyun_v4_request",
            " Credential=AK/20240506/cn-hangzhou/oss/aliyun_v4_request,Signature=ab,UnknownKey=1",
            " Credential=AK/20240506/cn-hangzhou/oss/aliyun_v4_request,Signature=ab,Signature=cd",
            " Credential=20240506/cn-hangzhou/oss/aliyun_v4_request,Signature=ab",
            " Credential=AK/20240506/cn-hangzhou/oss/v4,Signature=ab",
        ] {
            assert_eq!(refused(bad).map(|f| f.0), Some(400), "{bad}");
        }
    }

    #[test]
    fn oss_dates() {
        assert_eq!(parse_oss_date("20240506T070809Z"), Some(1_714_979_289));
        for bad in [
            "",
            "2024-05-06T07:08:09Z",
            "20240506T070809",
            "2024050xT070809Z",
        ] {
            assert_eq!(parse_oss_date(bad), None, "{bad}");
        }
    }
}
