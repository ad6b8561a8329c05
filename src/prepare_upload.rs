//! The `PrepareUpload` action: its request, its response and the checks made
//! before anything is sent.

use std::net::IpAddr;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The longest `BucketName` accepted before sending, in bytes.
pub const MAX_BUCKET_NAME_LEN: usize = 255;

/// Parameters of `PrepareUpload`.
///
/// ```
/// use ens_upload::PrepareUploadRequest;
/// let req = PrepareUploadRequest::new("test")
///     .client_ip("180.166.1.2")
///     .param("EnsRegionId", "cn-beijing-telecom");
/// assert_eq!(req.bucket_name(), "test");
/// assert!(req.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareUploadRequest {
    bucket_name: String,
    client_ip: Option<String>,
    extra: Vec<(String, String)>,
}

impl PrepareUploadRequest {
    /// A request for `bucket_name` (required by the API).
    pub fn new(bucket_name: impl Into<String>) -> PrepareUploadRequest {
        PrepareUploadRequest {
            bucket_name: bucket_name.into(),
            client_ip: None,
            extra: Vec::new(),
        }
    }

    /// The IP address of the device that will upload, when it is not the
    /// caller (a server asking on behalf of a device). IPv4 or IPv6.
    pub fn client_ip(mut self, ip: impl Into<String>) -> PrepareUploadRequest {
        self.client_ip = Some(ip.into());
        self
    }

    /// An extra parameter sent as is (older SDKs send `EnsRegionId`,
    /// `Station`, `ObjectKey`...). A later value for the same key replaces
    /// the earlier one.
    pub fn param(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> PrepareUploadRequest {
        let key = key.into();
        let value = value.into();
        match self.extra.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.extra.push((key, value)),
        }
        self
    }

    /// The bucket name asked for.
    pub fn bucket_name(&self) -> &str {
        &self.bucket_name
    }

    /// The client IP, if given.
    pub fn client_ip_value(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// The extra parameters, in the order given.
    pub fn extra_params(&self) -> &[(String, String)] {
        &self.extra
    }

    /// The checks made before sending: a non-empty `BucketName` of at most
    /// 255 bytes with no control characters, and a `ClientIp` that is an IPv4
    /// or IPv6 address. Everything else is left to the server.
    pub fn validate(&self) -> Result<()> {
        validate_bucket_name(&self.bucket_name)?;
        if let Some(ip) = &self.client_ip {
            validate_client_ip(ip)?;
        }
        for (k, _) in &self.extra {
            if k == "BucketName" || k == "ClientIp" {
                return Err(Error::invalid_input(
                    k.clone(),
                    "set it with PrepareUploadRequest::new or .client_ip, not .param",
                ));
            }
        }
        Ok(())
    }

    /// The request parameters (without the common signing ones).
    pub(crate) fn params(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::with_capacity(2 + self.extra.len());
        out.push(("BucketName", self.bucket_name.as_str()));
        if let Some(ip) = &self.client_ip {
            out.push(("ClientIp", ip.as_str()));
        }
        out.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out
    }
}

/// Checks a `BucketName` as [`PrepareUploadRequest::validate`] does.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid_input("BucketName", "must not be empty"));
    }
    if name.len() > MAX_BUCKET_NAME_LEN {
        return Err(Error::invalid_input(
            "BucketName",
            format!(
                "is {} bytes long; at most {MAX_BUCKET_NAME_LEN} are allowed",
                name.len()
            ),
        ));
    }
    if let Some(pos) = name.find(char::is_control) {
        return Err(Error::invalid_input(
            "BucketName",
            format!("contains a control character (NUL, newline...) at byte {pos}"),
        ));
    }
    Ok(())
}

/// Checks a `ClientIp` as [`PrepareUploadRequest::validate`] does.
pub fn validate_client_ip(ip: &str) -> Result<()> {
    match ip.parse::<IpAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::invalid_input(
            "ClientIp",
            format!(
                "{:?} is not an IPv4 or IPv6 address",
                truncate_for_message(ip)
            ),
        )),
    }
}

/// Keeps user input quoted in messages short.
pub(crate) fn truncate_for_message(s: &str) -> &str {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Where to upload, as answered by `PrepareUpload`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PrepareUploadResponse {
    /// The request id (quote it to support).
    #[serde(rename = "RequestId")]
    pub request_id: String,
    /// The physical bucket to upload to (pass it to OSS, not the one asked for).
    #[serde(rename = "BucketName")]
    pub bucket_name: String,
    /// The OSS endpoint to upload to, e.g. `eos.aliyuncs.com`.
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
}
