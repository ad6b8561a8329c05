//! PutObject, GetObject and HeadObject (with the object's metadata, see
//! `meta.rs`).

use std::fs;

use super::super::lock;
use super::meta::{already_exists, forbids_overwrite, ObjectMeta};
use super::persist::Op;
use super::store::StoredObject;
use super::{etag, failure, Answer, Body, Failure, Session};

impl Session<'_> {
    pub(super) fn put_object(&mut self, bucket: &str, key: &str) -> Result<Answer, Failure> {
        // Refused before the body, as OSS does.
        let meta = ObjectMeta::from_request(self.req)?;
        let forbid = forbids_overwrite(self.req);
        if forbid && self.exists(bucket, key) {
            return Err(already_exists());
        }
        let Some((path, size, crc)) = self.receive_file("object")? else {
            return Err(failure(400, "IncompleteBody", "The body ended early."));
        };
        if let Err(f) = self.faulted() {
            let _ = fs::remove_file(&path);
            return Err(f);
        }
        let object = StoredObject {
            size,
            crc64: crc,
            etag: etag(crc, size, None),
            content_type: self.req.header("content-type").unwrap_or("").to_owned(),
            files: vec![path],
            meta,
        };
        let headers = vec![
            ("ETag", object.etag.clone()),
            ("x-oss-hash-crc64ecma", self.crc_header(crc)),
        ];
        self.store(bucket, key, object, forbid)?;
        Ok(Answer::ok(headers, Body::Bytes(Vec::new())))
    }

    /// Whether an object is stored under `key`.
    pub(super) fn exists(&self, bucket: &str, key: &str) -> bool {
        lock(&self.shared.oss.state)
            .objects
            .contains_key(&(bucket.to_owned(), key.to_owned()))
    }

    /// Stores `object`, replacing any under `key` unless `forbid_overwrite`
    /// (then the object's files are removed and the answer is OSS's 409).
    pub(super) fn store(
        &self,
        bucket: &str,
        key: &str,
        object: StoredObject,
        forbid_overwrite: bool,
    ) -> Result<(), Failure> {
        let old = {
            let mut state = lock(&self.shared.oss.state);
            let id = (bucket.to_owned(), key.to_owned());
            if forbid_overwrite && state.objects.contains_key(&id) {
                drop(state);
                for file in object.files {
                    let _ = fs::remove_file(file);
                }
                return Err(already_exists());
            }
            self.shared.oss.record(|| Op::object(bucket, key, &object));
            state
                .objects
                .insert((bucket.to_owned(), key.to_owned()), object)
        };
        for file in old.map(|o| o.files).unwrap_or_default() {
            let _ = fs::remove_file(file);
        }
        Ok(())
    }

    pub(super) fn get(&mut self, bucket: &str, key: &str) -> Result<Answer, Failure> {
        let object = lock(&self.shared.oss.state)
            .objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned();
        let Some(object) = object else {
            return Err(failure(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
            ));
        };
        let headers = vec![
            ("Content-Type", object.content_type.clone()),
            ("ETag", object.etag.clone()),
            ("x-oss-hash-crc64ecma", object.crc64.to_string()),
        ];
        let object_headers = object.meta.answer_headers();
        let body = if self.req.method == "HEAD" {
            Body::HeadOnly(object.size)
        } else {
            Body::Files(object.files, object.size)
        };
        let mut answer = Answer::ok(headers, body);
        answer.object_headers = object_headers;
        Ok(answer)
    }
}
