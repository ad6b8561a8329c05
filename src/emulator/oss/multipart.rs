//! Multipart uploads: InitiateMultipartUpload, UploadPart, ListParts,
//! CompleteMultipartUpload and AbortMultipartUpload.

use std::collections::BTreeMap;
use std::fs;

use super::super::lock;
use super::meta::{already_exists, forbids_overwrite, ObjectMeta};
use super::persist::Op;
use super::store::{StoredObject, StoredPart, Upload};
use super::{
    etag, failure, last_modified, malformed, no_such_upload, value, xml_answer, Answer, Body,
    Failure, Received, Session,
};
use crate::crc64;
use crate::sign;
use crate::upload::xml;

/// The largest CompleteMultipartUpload body read (10,000 parts fit).
const MAX_XML_BODY: u64 = 4 << 20;
/// Parts but the last must be at least this long.
const MIN_PART_SIZE: u64 = 100 << 10;
const MAX_PART_NUMBER: u32 = 10_000;
/// ListParts answers at most this many parts (also the default).
const MAX_LIST_PARTS: u32 = 1000;

impl Session<'_> {
    pub(super) fn initiate(&mut self, bucket: &str, key: &str) -> Result<Answer, Failure> {
        self.receive(None)?;
        let meta = ObjectMeta::from_request(self.req)?;
        // OSS checks when the upload starts, and again when it completes.
        if forbids_overwrite(self.req) && self.exists(bucket, key) {
            return Err(already_exists());
        }
        let id = sign::new_nonce().to_ascii_uppercase();
        let upload = Upload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_type: self.req.header("content-type").unwrap_or("").to_owned(),
            meta,
            parts: BTreeMap::new(),
        };
        {
            let mut state = lock(&self.shared.oss.state);
            self.shared.oss.record(|| Op::initiate(&id, &upload));
            state.uploads.insert(id.clone(), upload);
        }
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>\
             <Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>\
             </InitiateMultipartUploadResult>",
            xml::escape_text(bucket),
            xml::escape_text(key),
            id
        );
        Ok(xml_answer(body))
    }

    /// The upload `id`, checked to belong to this bucket and key.
    pub(super) fn check_upload(&self, bucket: &str, key: &str, id: &str) -> Result<(), Failure> {
        let state = lock(&self.shared.oss.state);
        match state.uploads.get(id) {
            Some(u) if u.bucket == bucket && u.key == key => Ok(()),
            _ => Err(no_such_upload()),
        }
    }

    pub(super) fn upload_part(
        &mut self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<Answer, Failure> {
        let number = value(self.query, "partNumber")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
            .ok_or_else(|| {
                failure(
                    400,
                    "InvalidArgument",
                    "Part number must be an integer between 1 and 10000, inclusive.",
                )
            })?;
        self.check_upload(bucket, key, id)?;
        let Some((path, size, crc)) = self.receive_file("part")? else {
            return Err(failure(400, "IncompleteBody", "The body ended early."));
        };
        if let Err(f) = self.faulted() {
            let _ = fs::remove_file(&path);
            return Err(f);
        }
        let tag = etag(crc, size, None);
        let part = StoredPart {
            path,
            size,
            crc64: crc,
            etag: tag.clone(),
            modified: self.shared.now(),
        };
        let old = {
            let mut state = lock(&self.shared.oss.state);
            match state.uploads.get_mut(id) {
                Some(u) => {
                    self.shared.oss.record(|| Op::part(id, number, &part));
                    Ok(u.parts.insert(number, part))
                }
                None => Err(part),
            }
        };
        match old {
            Ok(Some(old)) => {
                let _ = fs::remove_file(old.path);
            }
            Ok(None) => {}
            Err(part) => {
                // Aborted while the body came in.
                let _ = fs::remove_file(part.path);
                return Err(no_such_upload());
            }
        }
        let headers = vec![
            ("ETag", tag),
            ("x-oss-hash-crc64ecma", self.crc_header(crc)),
        ];
        Ok(Answer::ok(headers, Body::Bytes(Vec::new())))
    }

    /// ListParts: the parts uploaded so far, ascending, `max-parts` (1 to
    /// 1000, default 1000) after `part-number-marker`, the key URL-encoded
    /// with `encoding-type=url`. Only `uploadId` is signed (V1 leaves the
    /// other three out of the canonicalized resource).
    pub(super) fn list_parts(
        &mut self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<Answer, Failure> {
        self.receive(None)?;
        let given = |name: &str| value(self.query, name).filter(|v| !v.is_empty());
        let max_parts = match given("max-parts") {
            None => MAX_LIST_PARTS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIST_PARTS).contains(n))
                .ok_or_else(|| {
                    failure(
                        400,
                        "InvalidArgument",
                        "Argument max-parts must be an integer between 1 and 1000.",
                    )
                })?,
        };
        let marker = match given("part-number-marker") {
            None => 0,
            Some(v) => v.parse::<u32>().map_err(|_| {
                failure(
                    400,
                    "InvalidArgument",
                    "Argument part-number-marker must be a non-negative integer.",
                )
            })?,
        };
        let url_encoded = match given("encoding-type") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("url") => true,
            Some(_) => {
                return Err(failure(
                    400,
                    "InvalidArgument",
                    "Argument encoding-type must be url.",
                ))
            }
        };
        // One page, and whether any part follows it, read in one go.
        let (page, truncated, class) = {
            let state = lock(&self.shared.oss.state);
            let upload = state
                .uploads
                .get(id)
                .filter(|u| u.bucket == bucket && u.key == key)
                .ok_or_else(no_such_upload)?;
            let mut after = upload
                .parts
                .range(marker.saturating_add(1)..)
                .map(|(n, p)| (*n, p.modified, p.etag.clone(), p.crc64, p.size));
            let page: Vec<_> = after.by_ref().take(max_parts as usize).collect();
            let class = match upload.meta.storage_class.as_str() {
                "" => "Standard".to_owned(),
                c => c.to_owned(),
            };
            (page, after.next().is_some(), class)
        };
        let next_marker = page.last().map_or(marker, |p| p.0);
        let shown_key = if url_encoded {
            sign::percent_encode(key)
        } else {
            key.to_owned()
        };
        let mut body = String::with_capacity(400 + page.len() * 220);
        body.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult>");
        body.push_str(&format!("<Bucket>{}</Bucket>", xml::escape_text(bucket)));
        if url_encoded {
            body.push_str("<EncodingType>url</EncodingType>");
        }
        body.push_str(&format!(
            "<Key>{}</Key><UploadId>{}</UploadId><StorageClass>{class}</StorageClass>\
             <PartNumberMarker>{marker}</PartNumberMarker>\
             <NextPartNumberMarker>{next_marker}</NextPartNumberMarker>\
             <MaxParts>{max_parts}</MaxParts><IsTruncated>{truncated}</IsTruncated>",
            xml::escape_text(&shown_key),
            xml::escape_text(id),
        ));
        for (number, modified, tag, crc, size) in &page {
            body.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber>\
                 <LastModified>{}</LastModified><ETag>{}</ETag>\
                 <HashCrc64ecma>{crc}</HashCrc64ecma><Size>{size}</Size></Part>",
                last_modified(*modified),
                xml::escape_text(tag),
            ));
        }
        body.push_str("</ListPartsResult>");
        Ok(xml_answer(body))
    }

    pub(super) fn complete(
        &mut self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<Answer, Failure> {
        if self.req.content_length > MAX_XML_BODY {
            return Err(failure(400, "MalformedXML", "The XML body is too large."));
        }
        let path = self.shared.oss.new_file("complete");
        let received = self.receive(Some(&path))?;
        let body = fs::read(&path).unwrap_or_default();
        let _ = fs::remove_file(&path);
        if matches!(received, Received::Broken) {
            return Err(failure(400, "IncompleteBody", "The body ended early."));
        }
        self.check_upload(bucket, key, id)?;
        self.faulted()?;
        let forbid = forbids_overwrite(self.req);
        if forbid && self.exists(bucket, key) {
            return Err(already_exists());
        }
        let text = String::from_utf8_lossy(&body);
        let mut listed = Vec::new();
        for part in xml::elements(&text, "Part") {
            let number = xml::text(part, "PartNumber").and_then(|n| n.parse::<u32>().ok());
            let tag = xml::text(part, "ETag");
            match (number, tag) {
                (Some(n), Some(t)) => listed.push((n, t)),
                _ => return Err(malformed()),
            }
        }
        if listed.is_empty() || !text.contains("<CompleteMultipartUpload") {
            return Err(malformed());
        }
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(failure(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order.",
            ));
        }
        // Check the list against what was uploaded and take the parts'
        // files as the object's (no copy), in one go.
        let (files, content_type, meta, unlisted) = {
            let mut state = lock(&self.shared.oss.state);
            let upload = state.uploads.get(id).ok_or_else(no_such_upload)?;
            for (i, (n, t)) in listed.iter().enumerate() {
                let part = upload
                    .parts
                    .get(n)
                    .filter(|p| p.etag.trim_matches('"') == t.trim().trim_matches('"'))
                    .ok_or_else(|| {
                        failure(
                            400,
                            "InvalidPart",
                            "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
                        )
                    })?;
                if i + 1 < listed.len() && part.size < MIN_PART_SIZE {
                    return Err(failure(
                        400,
                        "EntityTooSmall",
                        "Your proposed upload is smaller than the minimum allowed object size.",
                    ));
                }
            }
            let Some(mut upload) = state.uploads.remove(id) else {
                return Err(no_such_upload());
            };
            self.shared.oss.record(|| Op::Forget { id: id.to_owned() });
            let files: Vec<StoredPart> = listed
                .iter()
                .filter_map(|(n, _)| upload.parts.remove(n))
                .collect();
            (files, upload.content_type, upload.meta, upload.parts)
        };
        for part in unlisted.values() {
            let _ = fs::remove_file(&part.path);
        }
        let (mut crc, mut size) = (0u64, 0u64);
        for part in &files {
            crc = crc64::combine(crc, part.crc64, part.size);
            size += part.size;
        }
        let tag = etag(crc, size, Some(files.len()));
        self.store(
            bucket,
            key,
            StoredObject {
                size,
                crc64: crc,
                etag: tag.clone(),
                content_type,
                files: files.into_iter().map(|p| p.path).collect(),
                meta,
            },
            forbid,
        )?;
        let location = format!("http://{}.{}/{}", bucket, self.shared.oss_endpoint, key);
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>\
             <Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag>\
             </CompleteMultipartUploadResult>",
            xml::escape_text(&location),
            xml::escape_text(bucket),
            xml::escape_text(key),
            xml::escape_text(&tag)
        );
        let mut answer = xml_answer(body);
        answer.headers.push(("ETag", tag));
        answer
            .headers
            .push(("x-oss-hash-crc64ecma", self.crc_header(crc)));
        Ok(answer)
    }

    pub(super) fn abort(&mut self, bucket: &str, key: &str, id: &str) -> Result<Answer, Failure> {
        self.check_upload(bucket, key, id)?;
        let removed = {
            let mut state = lock(&self.shared.oss.state);
            self.shared.oss.record(|| Op::Forget { id: id.to_owned() });
            state.uploads.remove(id)
        };
        if let Some(upload) = removed {
            for part in upload.parts.values() {
                let _ = fs::remove_file(&part.path);
            }
        }
        Ok(Answer {
            status: 204,
            headers: Vec::new(),
            object_headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            code: None,
        })
    }
}
