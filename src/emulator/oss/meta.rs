//! What an object is created with besides its bytes, as OSS keeps and
//! answers it: user metadata (`x-oss-meta-*`), tags (`x-oss-tagging`,
//! answered as a count, `x-oss-tagging-count`), storage class
//! (`x-oss-storage-class`, `Standard` unless given), `Content-Disposition`
//! and `Cache-Control`; and `x-oss-forbid-overwrite`.

use serde::{Deserialize, Serialize};

use super::{failure, Failure};
use crate::emulator::http::HttpRequest;
use crate::sign;

/// OSS's limit on an object's user metadata, names and values together.
const MAX_USER_METADATA: usize = 8 << 10;
const MAX_TAGS: usize = 10;
const STORAGE_CLASSES: [&str; 5] = [
    "Standard",
    "IA",
    "Archive",
    "ColdArchive",
    "DeepColdArchive",
];

/// The metadata and headers a stored object was created with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectMeta {
    /// User metadata: names without `x-oss-meta-`, lowercase, sorted.
    pub user: Vec<(String, String)>,
    /// Tags, decoded, in the order sent.
    pub tags: Vec<(String, String)>,
    /// `Standard`, `IA`, `Archive`, `ColdArchive` or `DeepColdArchive`
    /// (empty: `Standard`, in a data directory written before it was kept).
    pub storage_class: String,
    /// `Content-Disposition`, if sent.
    pub content_disposition: Option<String>,
    /// `Cache-Control`, if sent.
    pub cache_control: Option<String>,
}

impl ObjectMeta {
    /// Reads them from a PutObject or InitiateMultipartUpload, refusing
    /// what OSS refuses: metadata over 8 KB or with names other than
    /// letters, digits and `-`; malformed tagging or more than 10 tags; an
    /// unknown storage class.
    pub(super) fn from_request(req: &HttpRequest) -> Result<ObjectMeta, Failure> {
        let bad = |m: String| failure(400, "InvalidArgument", m);
        let mut meta = ObjectMeta::default();
        let mut total = 0;
        for (name, value) in &req.headers {
            let Some(short) = name.strip_prefix("x-oss-meta-") else {
                continue;
            };
            if short.is_empty()
                || !short
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(bad(format!("The user metadata name {name} is invalid.")));
            }
            total += name.len() + value.len();
            meta.user.push((short.to_ascii_lowercase(), value.clone()));
        }
        if total > MAX_USER_METADATA {
            return Err(bad(
                "Your metadata headers exceed the maximum allowed metadata size.".into(),
            ));
        }
        meta.user.sort();
        if let Some(tagging) = req.header("x-oss-tagging").filter(|t| !t.is_empty()) {
            for pair in tagging.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let decode = |s: &str| sign::percent_decode(s, false);
                match (decode(k), decode(v)) {
                    (Some(k), Some(v)) if !k.is_empty() && !v.contains('=') => {
                        if meta.tags.iter().any(|(old, _)| *old == k) {
                            return Err(bad(format!("The tag key {k} is repeated.")));
                        }
                        meta.tags.push((k, v));
                    }
                    _ => return Err(bad("The x-oss-tagging header is invalid.".into())),
                }
            }
            if meta.tags.len() > MAX_TAGS {
                return Err(bad("An object can have at most 10 tags.".into()));
            }
        }
        meta.storage_class = match req.header("x-oss-storage-class") {
            None => "Standard".to_owned(),
            Some(c) => STORAGE_CLASSES
                .into_iter()
                .find(|s| s.eq_ignore_ascii_case(c))
                .ok_or_else(|| bad(format!("Invalid storage class {c}.")))?
                .to_owned(),
        };
        meta.content_disposition = req.header("content-disposition").map(str::to_owned);
        meta.cache_control = req.header("cache-control").map(str::to_owned);
        Ok(meta)
    }

    /// The headers HeadObject and GetObject answer with.
    pub(super) fn answer_headers(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .user
            .iter()
            .map(|(k, v)| (format!("x-oss-meta-{k}"), v.clone()))
            .collect();
        if !self.tags.is_empty() {
            out.push(("x-oss-tagging-count".into(), self.tags.len().to_string()));
        }
        let class = match self.storage_class.as_str() {
            "" => "Standard",
            c => c,
        };
        out.push(("x-oss-storage-class".into(), class.to_owned()));
        if let Some(v) = &self.content_disposition {
            out.push(("Content-Disposition".into(), v.clone()));
        }
        if let Some(v) = &self.cache_control {
            out.push(("Cache-Control".into(), v.clone()));
        }
        out
    }
}

/// Whether the request says `x-oss-forbid-overwrite: true`.
pub(super) fn forbids_overwrite(req: &HttpRequest) -> bool {
    req.header("x-oss-forbid-overwrite")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// OSS's answer to a forbidden overwrite.
pub(super) fn already_exists() -> Failure {
    failure(
        409,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "PUT".into(),
            target: "/b/k".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            content_length: 0,
            body: Vec::new(),
            keep_alive: false,
        }
    }

    #[test]
    fn metadata_is_read_and_checked_as_oss_does() {
        let meta = ObjectMeta::from_request(&request(&[
            ("x-oss-meta-b", "2"),
            ("x-oss-meta-a", "1"),
            ("x-oss-tagging", "k%201=v%2F1&empty="),
            ("x-oss-storage-class", "coldarchive"),
            ("cache-control", "no-cache"),
        ]))
        .unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(
            meta.user,
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(
            meta.tags,
            [
                ("k 1".into(), "v/1".into()),
                ("empty".into(), String::new())
            ]
        );
        assert_eq!(meta.storage_class, "ColdArchive");
        let answered = meta.answer_headers();
        assert!(answered.contains(&("x-oss-tagging-count".into(), "2".into())));
        assert!(answered.contains(&("x-oss-meta-a".into(), "1".into())));
        let refused = |h: &[(&str, &str)]| ObjectMeta::from_request(&request(h)).is_err();
        assert!(refused(&[("x-oss-meta-a_b", "1")]));
        assert!(refused(&[("x-oss-meta-a", &"v".repeat(9000))]));
        assert!(refused(&[("x-oss-tagging", "a=b=c")]));
        assert!(refused(&[("x-oss-tagging", "a=1&a=2")]));
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(refused(&[("x-oss-tagging", &eleven.join("&"))]));
        assert!(refused(&[("x-oss-storage-class", "Glacier")]));
        assert!(forbids_overwrite(&request(&[(
            "x-oss-forbid-overwrite",
            "TRUE"
        )])));
        assert!(!forbids_overwrite(&request(&[(
            "x-oss-forbid-overwrite",
            "false"
        )])));
    }

    /// A data directory written before metadata was kept still loads.
    #[test]
    fn store_logs_without_metadata_still_load() {
        let line = r#"{"Object":{"bucket":"b","key":"k","size":1,"crc64":2,"etag":"e","content_type":"t","files":["f"]}}"#;
        assert!(serde_json::from_str::<super::super::persist::Op>(line).is_ok());
        let line = r#"{"Initiate":{"id":"U","bucket":"b","key":"k","content_type":"t"}}"#;
        assert!(serde_json::from_str::<super::super::persist::Op>(line).is_ok());
    }
}
