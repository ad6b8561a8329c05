//! PutObject, GetObject and HeadObject.

use std::fs;

use super::super::lock;
use super::persist::Op;
use super::store::StoredObject;
use super::{etag, failure, Answer, Body, Failure, Session};

impl Session<'_> {
    pub(super) fn put_object(&mut self, bucket: &str, key: &str) -> Result<Answer, Failure> {
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
        };
        let headers = vec![
            ("ETag", object.etag.clone()),
            ("x-oss-hash-crc64ecma", self.crc_header(crc)),
        ];
        self.store(bucket, key, object);
        Ok(Answer::ok(headers, Body::Bytes(Vec::new())))
    }

    pub(super) fn store(&self, bucket: &str, key: &str, object: StoredObject) {
        let old = {
            let mut state = lock(&self.shared.oss.state);
            self.shared.oss.record(|| Op::object(bucket, key, &object));
            state
                .objects
                .insert((bucket.to_owned(), key.to_owned()), object)
        };
        for file in old.map(|o| o.files).unwrap_or_default() {
            let _ = fs::remove_file(file);
        }
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
        let body = if self.req.method == "HEAD" {
            Body::HeadOnly(object.size)
        } else {
            Body::Files(object.files, object.size)
        };
        Ok(Answer::ok(headers, body))
    }
}
