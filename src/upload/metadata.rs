//! What an object is created with besides its bytes: user metadata
//! (`x-oss-meta-*`), `Content-Type` (guessed from the key when not given),
//! `Content-Disposition`, `Cache-Control`, tags (`x-oss-tagging`), the
//! storage class and `x-oss-forbid-overwrite`. Checked against OSS's limits
//! before anything is sent; PutObject and InitiateMultipartUpload send them
//! (see [`ObjectHeaders::headers`]), and a checkpoint records their
//! fingerprint so a resumed upload keeps what it started with.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

use super::{UploadOptions, DEFAULT_CONTENT_TYPE};

/// OSS's limit on all user metadata of an object: names (with their
/// `x-oss-meta-` prefix) and values together, in bytes.
pub const MAX_USER_METADATA_BYTES: usize = 8 << 10;
/// The most tags an object may have.
pub const MAX_TAGS: usize = 10;
/// The longest tag key, in characters.
pub const MAX_TAG_KEY_LEN: usize = 128;
/// The longest tag value, in characters.
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// The longest `Content-Type`, `Content-Disposition` or `Cache-Control`
/// value accepted (far above what any needs; OSS caps a request's headers).
pub const MAX_HEADER_VALUE_LEN: usize = 4 << 10;

/// The prefix of user metadata headers.
const META_PREFIX: &str = "x-oss-meta-";

/// An OSS storage class, sent as `x-oss-storage-class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageClass {
    /// `Standard`: frequently read data (the bucket's default usually).
    Standard,
    /// `IA`: infrequent access.
    InfrequentAccess,
    /// `Archive`: must be restored before it is read.
    Archive,
    /// `ColdArchive`.
    ColdArchive,
    /// `DeepColdArchive`.
    DeepColdArchive,
}

impl StorageClass {
    /// The name OSS uses: `Standard`, `IA`, `Archive`, `ColdArchive`,
    /// `DeepColdArchive`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "Standard",
            StorageClass::InfrequentAccess => "IA",
            StorageClass::Archive => "Archive",
            StorageClass::ColdArchive => "ColdArchive",
            StorageClass::DeepColdArchive => "DeepColdArchive",
        }
    }

    const ALL: [StorageClass; 5] = [
        StorageClass::Standard,
        StorageClass::InfrequentAccess,
        StorageClass::Archive,
        StorageClass::ColdArchive,
        StorageClass::DeepColdArchive,
    ];
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StorageClass {
    type Err = Error;

    /// OSS's names, any case (`ia`, `coldarchive`...).
    fn from_str(s: &str) -> Result<StorageClass> {
        StorageClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::invalid_input(
                    "storage class",
                    format!(
                        "{:?} is not one of Standard, IA, Archive, ColdArchive, DeepColdArchive",
                        crate::prepare_upload::truncate_for_message(s)
                    ),
                )
            })
    }
}

/// The headers an object is created with (see the module's doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObjectHeaders {
    pub(crate) content_type: Option<String>,
    pub(crate) content_disposition: Option<String>,
    pub(crate) cache_control: Option<String>,
    /// Names lowercased, in the order first set; setting a name again
    /// replaces its value.
    pub(crate) metadata: Vec<(String, String)>,
    /// In the order added; adding a key again replaces its value.
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) storage_class: Option<StorageClass>,
    pub(crate) forbid_overwrite: bool,
}

/// Sets `name` to `value` in `pairs`, replacing an earlier value.
pub(crate) fn set_pair(pairs: &mut Vec<(String, String)>, name: String, value: String) {
    match pairs.iter_mut().find(|(n, _)| *n == name) {
        Some(pair) => pair.1 = value,
        None => pairs.push((name, value)),
    }
}

impl ObjectHeaders {
    /// Checks every value against OSS's limits: an error names the field
    /// and the limit.
    pub(crate) fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("content type", &self.content_type),
            ("content disposition", &self.content_disposition),
            ("cache control", &self.cache_control),
        ] {
            if let Some(v) = value {
                header_text(field, v, MAX_HEADER_VALUE_LEN)?;
            }
        }
        let mut total = 0usize;
        for (name, value) in &self.metadata {
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(Error::invalid_input(
                    "metadata name",
                    format!(
                        "{:?} must be ASCII letters, digits and '-' only (OSS's rule for x-oss-meta-* names; no '_' or spaces)",
                        crate::prepare_upload::truncate_for_message(name)
                    ),
                ));
            }
            header_text("metadata value", value, MAX_USER_METADATA_BYTES)?;
            total += META_PREFIX.len() + name.len() + value.len();
        }
        if total > MAX_USER_METADATA_BYTES {
            return Err(Error::invalid_input(
                "metadata",
                format!(
                    "{total} bytes of names (with the x-oss-meta- prefix) and values; OSS allows at most {MAX_USER_METADATA_BYTES}"
                ),
            ));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(Error::invalid_input(
                "tags",
                format!("{} tags; OSS allows at most {MAX_TAGS}", self.tags.len()),
            ));
        }
        for (key, value) in &self.tags {
            tag_text("tag key", key, MAX_TAG_KEY_LEN, false)?;
            tag_text("tag value", value, MAX_TAG_VALUE_LEN, true)?;
        }
        Ok(())
    }

    /// The `Content-Type` to send for `key`: the one set, else the one its
    /// extension suggests.
    pub(crate) fn content_type_for<'a>(&'a self, key: &str) -> &'a str {
        match &self.content_type {
            Some(t) => t,
            None => guess_content_type(key),
        }
    }

    /// The headers PutObject and InitiateMultipartUpload send besides
    /// `Content-Type`: names lowercase (every `x-oss-*` one is signed by
    /// both V1 and V4), values as they go on the wire.
    pub(crate) fn headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(v) = &self.content_disposition {
            out.push(("content-disposition".to_owned(), v.clone()));
        }
        if let Some(v) = &self.cache_control {
            out.push(("cache-control".to_owned(), v.clone()));
        }
        for (name, value) in &self.metadata {
            out.push((format!("{META_PREFIX}{name}"), value.clone()));
        }
        if !self.tags.is_empty() {
            out.push(("x-oss-tagging".to_owned(), self.tagging()));
        }
        if let Some(class) = self.storage_class {
            out.push(("x-oss-storage-class".to_owned(), class.as_str().to_owned()));
        }
        out.extend(self.forbid_overwrite_header());
        out
    }

    /// `x-oss-forbid-overwrite: true` when set: also sent with
    /// CompleteMultipartUpload, where OSS decides.
    pub(crate) fn forbid_overwrite_header(&self) -> Option<(String, String)> {
        self.forbid_overwrite
            .then(|| ("x-oss-forbid-overwrite".to_owned(), "true".to_owned()))
    }

    /// `k1=v1&k2=v2`, keys and values URL-encoded.
    fn tagging(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.tags.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            crate::sign::percent_encode_into(&mut out, k);
            out.push('=');
            crate::sign::percent_encode_into(&mut out, v);
        }
        out
    }

    /// What a checkpoint records of these headers for `key`: the CRC-64 in
    /// hex of every header the object is created with, so a resume with
    /// other metadata is told apart without storing the values.
    pub(crate) fn fingerprint(&self, key: &str) -> String {
        let mut text = format!("content-type:{}\n", self.content_type_for(key));
        for (k, v) in self.headers() {
            text.push_str(&format!("{k}:{v}\n"));
        }
        format!("{:016x}", crate::crc64::checksum(text.as_bytes()))
    }
}

/// The builder methods of [`UploadOptions`] for what the object is created
/// with (kept here, beside the rules they follow).
impl UploadOptions {
    /// Adds user metadata, sent as `x-oss-meta-<name>: <value>` and
    /// answered by HeadObject and GetObject. Names are ASCII letters,
    /// digits and `-` (stored lowercase, as OSS does; setting a name again
    /// replaces its value); values visible ASCII and spaces (percent-encode
    /// other text). Names with their prefix and values may total 8 KiB.
    ///
    /// ```
    /// use ens_upload::{StorageClass, UploadOptions};
    /// let o = UploadOptions::new()
    ///     .metadata("device-id", "cam-0042")
    ///     .tag("site", "north gate")
    ///     .storage_class(StorageClass::InfrequentAccess)
    ///     .forbid_overwrite(true);
    /// assert!(o.validate().is_ok());
    /// assert!(UploadOptions::new().metadata("device_id", "x").validate().is_err());
    /// ```
    pub fn metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into().to_ascii_lowercase();
        set_pair(&mut self.object.metadata, name, value.into());
        self
    }

    /// Adds a tag (`x-oss-tagging`, URL-encoded here). OSS's limits: at
    /// most 10 tags, keys up to 128 characters and values up to 256, both
    /// of letters, digits, space and `+ - = . _ : /`. Adding a key again
    /// replaces its value.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        set_pair(&mut self.object.tags, key.into(), value.into());
        self
    }

    /// The object's `Content-Disposition` (`attachment; filename="a.mp4"`).
    pub fn content_disposition(mut self, value: impl Into<String>) -> Self {
        self.object.content_disposition = Some(value.into());
        self
    }

    /// The object's `Cache-Control` (`no-cache`, `max-age=3600`).
    pub fn cache_control(mut self, value: impl Into<String>) -> Self {
        self.object.cache_control = Some(value.into());
        self
    }

    /// The object's storage class (default: the bucket's).
    pub fn storage_class(mut self, class: StorageClass) -> Self {
        self.object.storage_class = Some(class);
        self
    }

    /// Back to the bucket's storage class (for the C API's setter).
    pub(crate) fn bucket_storage_class(mut self) -> Self {
        self.object.storage_class = None;
        self
    }

    /// Refuses to replace an object already stored under the key
    /// (`x-oss-forbid-overwrite: true`): the upload then fails, without
    /// retrying, with [`Error::Api`] of code `FileAlreadyExists` (409) and
    /// nothing is replaced. A multipart upload is checked when it starts
    /// and when it completes.
    pub fn forbid_overwrite(mut self, yes: bool) -> Self {
        self.object.forbid_overwrite = yes;
        self
    }
}

/// A header value: visible ASCII and spaces, no CR/LF or other control
/// characters, at most `max` bytes.
fn header_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        return Err(Error::invalid_input(
            field,
            format!("{} bytes long; at most {max} are sent", value.len()),
        ));
    }
    if let Some(pos) = value
        .bytes()
        .position(|b| !(b == b' ' || b.is_ascii_graphic()))
    {
        return Err(Error::invalid_input(
            field,
            format!(
                "has a character other than visible ASCII or space at byte {pos} (CR, LF, tabs, control characters and non-ASCII text cannot go in an HTTP header: percent-encode it)"
            ),
        ));
    }
    if value != value.trim() {
        return Err(Error::invalid_input(
            field,
            "starts or ends with a space (HTTP would drop it)",
        ));
    }
    Ok(())
}

/// A tag key or value: OSS's characters (letters, digits, space and
/// `+ - = . _ : /`), at most `max` characters; a key may not be empty.
fn tag_text(field: &str, text: &str, max: usize, may_be_empty: bool) -> Result<()> {
    if text.is_empty() && !may_be_empty {
        return Err(Error::invalid_input(field, "is empty"));
    }
    if text.len() > max {
        return Err(Error::invalid_input(
            field,
            format!(
                "{:?} is {} characters long; OSS allows at most {max}",
                crate::prepare_upload::truncate_for_message(text),
                text.len()
            ),
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " +-=._:/".contains(*c)))
    {
        return Err(Error::invalid_input(
            field,
            format!(
                "{:?} has {c:?}; OSS allows letters, digits, space and + - = . _ : / only",
                crate::prepare_upload::truncate_for_message(text)
            ),
        ));
    }
    Ok(())
}

/// The `Content-Type` an object key's extension suggests (case aside), as
/// the official SDKs guess it; `application/octet-stream` for any other.
/// The table is kept to what devices upload.
pub fn guess_content_type(key: &str) -> &'static str {
    const TABLE: &[(&str, &str)] = &[
        ("mp4", "video/mp4"),
        ("m4v", "video/mp4"),
        ("mov", "video/quicktime"),
        ("mkv", "video/x-matroska"),
        ("avi", "video/x-msvideo"),
        ("ts", "video/mp2t"),
        ("flv", "video/x-flv"),
        ("webm", "video/webm"),
        ("h264", "video/h264"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("png", "image/png"),
        ("gif", "image/gif"),
        ("bmp", "image/bmp"),
        ("webp", "image/webp"),
        ("mp3", "audio/mpeg"),
        ("wav", "audio/wav"),
        ("aac", "audio/aac"),
        ("flac", "audio/flac"),
        ("txt", "text/plain"),
        ("log", "text/plain"),
        ("csv", "text/csv"),
        ("html", "text/html"),
        ("htm", "text/html"),
        ("json", "application/json"),
        ("xml", "application/xml"),
        ("pdf", "application/pdf"),
        ("zip", "application/zip"),
        ("gz", "application/gzip"),
        ("tar", "application/x-tar"),
    ];
    let name = key.rsplit('/').next().unwrap_or(key);
    let Some((_, ext)) = name.rsplit_once('.') else {
        return DEFAULT_CONTENT_TYPE;
    };
    TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(DEFAULT_CONTENT_TYPE, |(_, t)| t)
}

/// The error OSS's `FileAlreadyExists` (409) becomes when the upload asked
/// not to overwrite: what happened and what to do, code kept.
pub(crate) fn explain_overwrite(e: Error, key: &str) -> Error {
    match e {
        Error::Api(mut api) if api.code == "FileAlreadyExists" => {
            api.message = format!(
                "the object {key:?} already exists and the upload forbids overwriting (x-oss-forbid-overwrite): nothing was replaced; upload under another key, or allow overwriting. The server said: {}",
                api.message
            );
            Error::Api(api)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_guessed_from_the_extension() {
        assert_eq!(guess_content_type("videos/2024.MP4"), "video/mp4");
        assert_eq!(guess_content_type("a.jpeg"), "image/jpeg");
        assert_eq!(guess_content_type("logs/app.log"), "text/plain");
        assert_eq!(guess_content_type("dir.mp4/file"), DEFAULT_CONTENT_TYPE);
        assert_eq!(guess_content_type("noext"), DEFAULT_CONTENT_TYPE);
        assert_eq!(guess_content_type("x.unknown"), DEFAULT_CONTENT_TYPE);
        let set = ObjectHeaders {
            content_type: Some("text/csv".into()),
            ..ObjectHeaders::default()
        };
        assert_eq!(set.content_type_for("a.mp4"), "text/csv");
    }

    #[test]
    fn headers_carry_everything_tags_encoded() {
        let h = ObjectHeaders {
            content_disposition: Some("attachment; filename=\"a.mp4\"".into()),
            cache_control: Some("no-cache".into()),
            metadata: vec![("device".into(), "cam-7".into())],
            tags: vec![
                ("site".into(), "north gate".into()),
                ("k:1".into(), "a/b+c=d".into()),
            ],
            storage_class: Some(StorageClass::InfrequentAccess),
            forbid_overwrite: true,
            ..ObjectHeaders::default()
        };
        h.validate().unwrap();
        let headers = h.headers();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-oss-meta-device"), Some("cam-7"));
        assert_eq!(
            get("x-oss-tagging"),
            Some("site=north%20gate&k%3A1=a%2Fb%2Bc%3Dd")
        );
        assert_eq!(get("x-oss-storage-class"), Some("IA"));
        assert_eq!(get("x-oss-forbid-overwrite"), Some("true"));
        assert_eq!(get("cache-control"), Some("no-cache"));
        // The fingerprint follows every header, the guessed type included.
        let base = ObjectHeaders::default();
        assert_ne!(base.fingerprint("a.mp4"), base.fingerprint("a.jpg"));
        assert_ne!(base.fingerprint("k"), h.fingerprint("k"));
        assert_eq!(h.fingerprint("k"), h.clone().fingerprint("k"));
    }

    #[test]
    fn bad_values_name_the_field_and_the_limit() {
        let field_of = |h: ObjectHeaders| match h.validate() {
            Err(Error::InvalidInput { field, reason }) => format!("{field}: {reason}"),
            other => panic!("{other:?}"),
        };
        let meta = |n: &str, v: &str| ObjectHeaders {
            metadata: vec![(n.into(), v.into())],
            ..ObjectHeaders::default()
        };
        assert!(field_of(meta("a_b", "v")).starts_with("metadata name"));
        assert!(field_of(meta("caf\u{e9}", "v")).starts_with("metadata name"));
        assert!(field_of(meta("a", "x\r\ny")).starts_with("metadata value"));
        assert!(field_of(meta("a", "\u{e9}t\u{e9}")).starts_with("metadata value"));
        let big = field_of(meta("a", &"v".repeat(MAX_USER_METADATA_BYTES)));
        assert!(
            big.starts_with("metadata:") && big.contains("8192"),
            "{big}"
        );
        let tags = |n: usize, k: &str, v: &str| ObjectHeaders {
            tags: (0..n).map(|i| (format!("{k}{i}"), v.to_owned())).collect(),
            ..ObjectHeaders::default()
        };
        assert!(field_of(tags(11, "k", "v")).contains("at most 10"));
        assert!(field_of(tags(1, &"k".repeat(128), "v")).starts_with("tag key"));
        assert!(field_of(tags(1, "k", &"v".repeat(257))).contains("256"));
        assert!(field_of(tags(1, "k", "a&b")).starts_with("tag value"));
        tags(10, "k", "").validate().unwrap();
        let ct = ObjectHeaders {
            content_type: Some("text/plain\nX-Evil: 1".into()),
            ..ObjectHeaders::default()
        };
        assert!(field_of(ct).starts_with("content type"));
        assert!("coldarchive".parse::<StorageClass>().unwrap() == StorageClass::ColdArchive);
        assert!("Glacier".parse::<StorageClass>().is_err());
    }

    #[test]
    fn file_already_exists_is_explained() {
        let api = crate::error::ApiError {
            http_status: 409,
            code: "FileAlreadyExists".into(),
            message: "The object you specified already exists and can not be overwritten.".into(),
            request_id: "R".into(),
            host_id: String::new(),
            recommend: String::new(),
            ec: String::new(),
            signature_diagnosis: None,
            attempts: 1,
        };
        let e = explain_overwrite(Error::from(api), "a/b.mp4");
        assert_eq!(e.code(), Some("FileAlreadyExists"));
        assert!(e.to_string().contains("\"a/b.mp4\" already exists"), "{e}");
    }
}
