//! Object metadata and headers (issue 15): user metadata, tags, storage
//! class, content type (guessed from the key), content disposition and
//! cache control round-tripped through HeadObject for PutObject and
//! multipart, signed V1 and V4; forbid-overwrite; a resume that refuses
//! other metadata; values refused before anything is sent.

mod common;

use common::TempDir;
use ens_upload::emulator::{Emulator, TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET};
use ens_upload::sign::{oss_canonical_resource, oss_v1};
use ens_upload::upload::MIN_PART_SIZE;
use ens_upload::{
    Client, Error, OssSignature, PrepareUploadRequest, ProgressAction, StorageClass, UploadOptions,
};

const REGION: &str = "cn-hangzhou";

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .retries(3)
        .retry_base_delay(std::time::Duration::from_millis(10))
        .build()
        .unwrap()
}

fn req() -> PrepareUploadRequest {
    PrepareUploadRequest::new("test")
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// HeadObject, signed V1 as an independent client would: the status and
/// the headers answered (names lowercase).
fn head(emu: &Emulator, key: &str) -> (u16, Vec<(String, String)>) {
    fetch(emu, "HEAD", key)
}

/// HeadObject or GetObject (headers only looked at).
fn fetch(emu: &Emulator, method: &str, key: &str) -> (u16, Vec<(String, String)>) {
    let bucket = emu.oss_bucket_for("test");
    let date = common::emulator_date(emu);
    let resource = oss_canonical_resource(Some(&bucket), key, &[]);
    let none: [(&str, &str); 0] = [];
    let sig = oss_v1(
        method,
        "",
        "",
        &date,
        &none,
        &resource,
        TEST_ACCESS_KEY_SECRET,
    );
    let answer = common::raw_exchange(
        emu.addr(),
        &format!(
            "{method} /{bucket}/{} HTTP/1.1\r\nHost: {}\r\nDate: {date}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            ens_upload::sign::percent_encode(key).replace("%2F", "/"),
            emu.addr(),
            sig.authorization(TEST_ACCESS_KEY_ID)
        ),
    );
    let mut lines = answer.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn with_metadata(o: UploadOptions) -> UploadOptions {
    o.metadata("Device-Id", "cam-0042")
        .metadata("firmware", "1.2.3 (build 7)")
        .tag("site", "north gate")
        .tag("kind", "clip/motion")
        .storage_class(StorageClass::InfrequentAccess)
        .content_disposition("attachment; filename=\"clip.mp4\"")
        .cache_control("max-age=3600")
}

/// Every path (PutObject, multipart) under every signature (V1, V4) sends
/// the metadata; HeadObject answers it, the content type guessed from the
/// key's extension.
#[test]
fn metadata_and_tags_round_trip_through_head_object() {
    let emu = Emulator::builder().oss_region(REGION).start().unwrap();
    let dir = TempDir::new("meta-roundtrip");
    let bytes = data(3 * MIN_PART_SIZE as usize + 17);
    let path = dir.join("clip.bin");
    std::fs::write(&path, &bytes).unwrap();
    for (signature, multipart) in [
        (OssSignature::V1, false),
        (OssSignature::V1, true),
        (OssSignature::V4, false),
        (OssSignature::V4, true),
    ] {
        let key = format!("clips/{signature:?}-{multipart}.MP4");
        let mut o = with_metadata(UploadOptions::new())
            .region(REGION)
            .oss_signature(signature);
        if multipart {
            o = o
                .part_size(MIN_PART_SIZE)
                .multipart_threshold(MIN_PART_SIZE);
        }
        let out = client(&emu).upload_file(&req(), &key, &path, &o).unwrap();
        assert_eq!(out.parts > 0, multipart, "{key}");
        let (status, h) = head(&emu, &key);
        assert_eq!(status, 200, "{key}: {h:?}");
        assert_eq!(
            header(&h, "x-oss-meta-device-id"),
            Some("cam-0042"),
            "{key}"
        );
        assert_eq!(header(&h, "x-oss-meta-firmware"), Some("1.2.3 (build 7)"));
        assert_eq!(header(&h, "x-oss-tagging-count"), Some("2"));
        assert_eq!(header(&h, "x-oss-storage-class"), Some("IA"));
        assert_eq!(header(&h, "content-type"), Some("video/mp4"));
        assert_eq!(
            header(&h, "content-disposition"),
            Some("attachment; filename=\"clip.mp4\"")
        );
        assert_eq!(header(&h, "cache-control"), Some("max-age=3600"));
        // GetObject answers the same headers.
        let (status, got) = fetch(&emu, "GET", &key);
        assert_eq!(status, 200);
        for name in [
            "x-oss-meta-device-id",
            "x-oss-tagging-count",
            "x-oss-storage-class",
        ] {
            assert_eq!(header(&got, name), header(&h, name), "{name}");
        }
        let stored = emu.oss_object(&out.bucket, &key).unwrap();
        assert_eq!(
            stored.meta.tags,
            [
                ("site".to_owned(), "north gate".to_owned()),
                ("kind".to_owned(), "clip/motion".to_owned())
            ]
        );
        // Multipart: set on InitiateMultipartUpload only, never on parts.
        let parts_with_meta = emu
            .requests()
            .iter()
            .filter(|r| r.param("partNumber").is_some())
            .filter(|r| r.headers.iter().any(|(k, _)| k.starts_with("x-oss-meta-")))
            .count();
        assert_eq!(parts_with_meta, 0);
    }
    // Without anything set: the guessed type, Standard, no tags.
    let out = client(&emu)
        .upload_file(&req(), "plain.log", &path, &UploadOptions::new())
        .unwrap();
    let (_, h) = head(&emu, &out.key);
    assert_eq!(header(&h, "content-type"), Some("text/plain"));
    assert_eq!(header(&h, "x-oss-storage-class"), Some("Standard"));
    assert_eq!(header(&h, "x-oss-tagging-count"), None);
}

/// A second upload under the same key with forbid-overwrite fails with
/// OSS's 409 `FileAlreadyExists`, once (not retried), and the first object
/// stays; for multipart, before any part is sent.
#[test]
fn forbid_overwrite_refuses_an_existing_object_without_retrying() {
    let emu = Emulator::builder().start().unwrap();
    let dir = TempDir::new("meta-forbid");
    let first = dir.join("first.bin");
    let second = dir.join("second.bin");
    std::fs::write(&first, data(1000)).unwrap();
    std::fs::write(&second, data(3 * MIN_PART_SIZE as usize)).unwrap();
    let forbid = UploadOptions::new().forbid_overwrite(true);
    let c = client(&emu);
    c.upload_file(&req(), "k.bin", &first, &forbid).unwrap();
    let bucket = emu.oss_bucket_for("test");
    let puts_before = emu.requests().len();
    for (what, options) in [
        ("PutObject", forbid.clone()),
        (
            "multipart",
            forbid
                .clone()
                .part_size(MIN_PART_SIZE)
                .multipart_threshold(MIN_PART_SIZE),
        ),
    ] {
        let e = c
            .upload_file(&req(), "k.bin", &second, &options)
            .unwrap_err();
        assert_eq!(e.code(), Some("FileAlreadyExists"), "{what}: {e}");
        assert_eq!(e.api().unwrap().http_status, 409);
        let text = e.to_string();
        assert!(
            text.contains("already exists") && text.contains("k.bin"),
            "{what}: {text}"
        );
        assert_eq!(emu.oss_object_bytes(&bucket, "k.bin").unwrap(), data(1000));
    }
    let after: Vec<_> = emu.requests()[puts_before..]
        .iter()
        .filter(|r| r.method != "GET" || r.path != "/")
        .map(|r| (r.method.clone(), r.raw_query.clone(), r.status))
        .filter(|(_, _, status)| *status == 409)
        .collect();
    // One refused PutObject and one refused initiate: nothing retried.
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(emu
        .requests()
        .iter()
        .all(|r| r.param("partNumber").is_none()));
    // Without the option the object is replaced as usual.
    c.upload_file(&req(), "k.bin", &second, &UploadOptions::new())
        .unwrap();
}

/// The object appears while a multipart upload with forbid-overwrite is
/// under way: CompleteMultipartUpload is refused and nothing is replaced.
#[test]
fn forbid_overwrite_is_checked_again_at_complete() {
    let emu = Emulator::builder().start().unwrap();
    let dir = TempDir::new("meta-forbid-complete");
    let big = dir.join("big.bin");
    let small = dir.join("small.bin");
    std::fs::write(&big, data(3 * MIN_PART_SIZE as usize)).unwrap();
    std::fs::write(&small, data(10)).unwrap();
    let other = client(&emu);
    let mut planted = false;
    let options = UploadOptions::new()
        .forbid_overwrite(true)
        .part_size(MIN_PART_SIZE)
        .multipart_threshold(MIN_PART_SIZE)
        .on_progress(move |_, _| {
            if !planted {
                planted = true;
                other
                    .upload_file(&req(), "race.bin", &small, &UploadOptions::new())
                    .unwrap();
            }
            ProgressAction::Continue
        });
    let e = client(&emu)
        .upload_file(&req(), "race.bin", &big, &options)
        .unwrap_err();
    assert_eq!(e.code(), Some("FileAlreadyExists"), "{e}");
    let bucket = emu.oss_bucket_for("test");
    assert_eq!(emu.oss_object_bytes(&bucket, "race.bin").unwrap(), data(10));
    // The refused upload was aborted (no checkpoint to resume from).
    assert_eq!(emu.oss_uploads_in_progress(), 0);
}

/// A resumed upload keeps the metadata it started with: a checkpoint made
/// with other metadata is refused with a clear error and kept; with the
/// same metadata the upload resumes.
#[test]
fn a_resume_with_other_metadata_is_refused() {
    let emu = Emulator::builder().start().unwrap();
    let dir = TempDir::new("meta-resume");
    let file = dir.join("video.bin");
    let bytes = data(4 * MIN_PART_SIZE as usize);
    std::fs::write(&file, &bytes).unwrap();
    let ckpt = dir.join("video.ckpt");
    let base = || {
        UploadOptions::new()
            .part_size(MIN_PART_SIZE)
            .multipart_threshold(MIN_PART_SIZE)
            .threads(1)
            .checkpoint(&ckpt)
            .metadata("device-id", "cam-1")
            .tag("site", "a")
    };
    let c = client(&emu);
    let mut calls = 0;
    let cancel_early = base().on_progress(move |_, _| {
        calls += 1;
        if calls > 1 {
            ProgressAction::Cancel
        } else {
            ProgressAction::Continue
        }
    });
    let e = c
        .upload_file(&req(), "v.bin", &file, &cancel_early)
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e}");
    assert!(ckpt.exists());
    for other in [
        base().metadata("device-id", "cam-2"),
        base().tag("site", "b"),
        base().content_type("video/mp4"),
        base().storage_class(StorageClass::Archive),
        base().forbid_overwrite(true),
    ] {
        match c.upload_file(&req(), "v.bin", &file, &other) {
            Err(Error::InvalidInput { field, reason, .. }) => {
                assert_eq!(field, "checkpoint");
                assert!(
                    reason.contains("other metadata") && reason.contains("delete the checkpoint"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(ckpt.exists(), "the checkpoint is kept");
    }
    let out = c.upload_file(&req(), "v.bin", &file, &base()).unwrap();
    assert!(out.resumed_parts >= 1, "{out:?}");
    assert_eq!(
        emu.oss_object_bytes(&out.bucket, "v.bin").unwrap(),
        bytes.as_slice()
    );
    let (_, h) = head(&emu, "v.bin");
    assert_eq!(header(&h, "x-oss-meta-device-id"), Some("cam-1"));
}

/// Bad values are refused before anything is sent, naming the field.
#[test]
fn bad_values_are_refused_before_sending() {
    let emu = Emulator::builder().start().unwrap();
    let dir = TempDir::new("meta-bad");
    let file = dir.join("f.bin");
    std::fs::write(&file, b"x").unwrap();
    let cases = [
        (
            UploadOptions::new().metadata("device id", "x"),
            "metadata name",
        ),
        (
            UploadOptions::new().metadata("caf\u{e9}", "x"),
            "metadata name",
        ),
        (
            UploadOptions::new().metadata("a", "line\r\nX-Evil: 1"),
            "metadata value",
        ),
        (
            UploadOptions::new()
                .metadata("a", "x".repeat(5000))
                .metadata("b", "x".repeat(5000)),
            "metadata",
        ),
        (UploadOptions::new().tag("k", "a&b"), "tag value"),
        (UploadOptions::new().tag("k".repeat(129), "v"), "tag key"),
        (
            (0..11).fold(UploadOptions::new(), |o, i| o.tag(format!("k{i}"), "v")),
            "tags",
        ),
        (
            UploadOptions::new().cache_control("no-cache\n"),
            "cache control",
        ),
        (
            UploadOptions::new().content_disposition("attachment; filename=\"\u{e9}.mp4\""),
            "content disposition",
        ),
    ];
    for (options, want) in cases {
        match client(&emu).upload_file(&req(), "k", &file, &options) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, want),
            other => panic!("{want}: {other:?}"),
        }
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
    let e = "Glacier".parse::<StorageClass>().unwrap_err();
    assert!(e.to_string().contains("DeepColdArchive"), "{e}");
}
