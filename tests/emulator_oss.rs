//! The emulator's OSS side answering ListParts (`GET /<bucket>/<key>?uploadId=`)
//! to signed requests sent by hand: the listed parts, paging with
//! `max-parts` and `part-number-marker`, `encoding-type=url`, which query
//! parameters the V1 signature covers, bad arguments and `NoSuchUpload`; and
//! the parts an upload by the library left open when cancelled. Then OSS
//! signature V4 (`OSS4-HMAC-SHA256`) beside V1: its region, `x-oss-date`,
//! STS token, additional headers and mismatch details, and V1 refused as a
//! bucket made since 2025 refuses it.

mod common;

use common::dates::{civil, http_date, unix_now};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use ens_upload::emulator::Emulator;
use ens_upload::sign::{oss_canonical_resource, oss_v1, oss_v4, percent_encode};
use ens_upload::upload::MIN_PART_SIZE;
use ens_upload::{Client, Error, PrepareUploadRequest, ProgressAction, UploadOptions};

const KEY_ID: &str = "LTAIEmulatorTestKeyId";
const SECRET: &str = "EmulatorTestSecret";

/// An HTTP answer.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The text of the first `<tag>` of the body.
    fn text(&self, tag: &str) -> Option<String> {
        text(&self.body, tag)
    }
}

fn text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(xml[start..end].to_owned())
}

/// The bodies of every `<tag>` element, in order.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(s) = rest.find(&open) {
        let body = &rest[s + open.len()..];
        let Some(e) = body.find(&close) else { break };
        out.push(&body[..e]);
        rest = &body[e + close.len()..];
    }
    out
}

/// `2012-02-23T07:01:34.000Z`, OSS's `LastModified`.
fn oss_time(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil(unix.div_euclid(86_400));
    format!(
        "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Signs and sends one OSS request to the emulator (path-style), reading
/// the whole answer. `query` is `(name, value)` pairs sent in this order;
/// `signed_resource`, when given, replaces the canonicalized resource the
/// signature is computed over (to sign the wrong thing on purpose).
fn send(
    emu: &Emulator,
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(&str, Option<&str>)],
    body: &[u8],
    signed_resource: Option<&str>,
) -> Reply {
    let date = http_date(unix_now());
    let resource = signed_resource.map_or_else(
        || oss_canonical_resource(Some(bucket), key, query),
        str::to_owned,
    );
    let no_headers: [(&str, &str); 0] = [];
    let sig = oss_v1(method, "", "", &date, &no_headers, &resource, SECRET);
    let headers = [
        ("Date".to_owned(), date),
        ("Authorization".to_owned(), sig.authorization(KEY_ID)),
    ];
    exchange(emu, method, &target(bucket, key, query), &headers, body)
}

/// `/<bucket>/<key>?<query>`, percent-encoded.
fn target(bucket: &str, key: &str, query: &[(&str, Option<&str>)]) -> String {
    let path: Vec<String> = key.split('/').map(percent_encode).collect();
    let mut target = format!("/{bucket}/{}", path.join("/"));
    for (i, (k, v)) in query.iter().enumerate() {
        target.push(if i == 0 { '?' } else { '&' });
        target.push_str(&percent_encode(k));
        if let Some(v) = v {
            target.push('=');
            target.push_str(&percent_encode(v));
        }
    }
    target
}

/// Sends one request with these headers (besides Host, Content-Length and
/// Connection) on a new connection, reading the whole answer.
fn exchange(
    emu: &Emulator,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", emu.addr());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut s = TcpStream::connect(emu.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).expect("a text answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A multipart upload opened by hand, its parts sent with [`Upload::part`].
struct Upload<'a> {
    emu: &'a Emulator,
    bucket: String,
    key: String,
    id: String,
}

/// What UploadPart answered for a part.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    number: u32,
    etag: String,
    crc64: String,
    size: usize,
}

impl<'a> Upload<'a> {
    fn initiate(emu: &'a Emulator, key: &str) -> Upload<'a> {
        let bucket = emu.oss_bucket_for("test");
        let r = send(emu, "POST", &bucket, key, &[("uploads", None)], b"", None);
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.text("UploadId").unwrap();
        Upload {
            emu,
            bucket,
            key: key.to_owned(),
            id,
        }
    }

    fn part(&self, number: u32, body: &[u8]) -> Sent {
        let n = number.to_string();
        let q = [
            ("partNumber", Some(n.as_str())),
            ("uploadId", Some(&*self.id)),
        ];
        let r = send(self.emu, "PUT", &self.bucket, &self.key, &q, body, None);
        assert_eq!(r.status, 200, "{}", r.body);
        Sent {
            number,
            etag: r.header("ETag").unwrap().to_owned(),
            crc64: r.header("x-oss-hash-crc64ecma").unwrap().to_owned(),
            size: body.len(),
        }
    }

    /// ListParts with these extra query parameters (after `uploadId`).
    fn list(&self, extra: &[(&str, Option<&str>)]) -> Reply {
        list_parts(self.emu, &self.bucket, &self.key, &self.id, extra)
    }
}

fn list_parts(
    emu: &Emulator,
    bucket: &str,
    key: &str,
    id: &str,
    extra: &[(&str, Option<&str>)],
) -> Reply {
    let mut q = vec![("uploadId", Some(id))];
    q.extend_from_slice(extra);
    send(emu, "GET", bucket, key, &q, b"", None)
}

/// The parts a ListPartsResult lists.
fn listed(r: &Reply) -> Vec<Sent> {
    elements(&r.body, "Part")
        .into_iter()
        .map(|p| Sent {
            number: text(p, "PartNumber").unwrap().parse().unwrap(),
            etag: text(p, "ETag").unwrap(),
            crc64: text(p, "HashCrc64ecma").unwrap(),
            size: text(p, "Size").unwrap().parse().unwrap(),
        })
        .collect()
}

fn numbers(r: &Reply) -> Vec<u32> {
    listed(r).iter().map(|p| p.number).collect()
}

/// The paging elements: (PartNumberMarker, NextPartNumberMarker, MaxParts,
/// IsTruncated).
fn paging(r: &Reply) -> (String, String, String, String) {
    (
        r.text("PartNumberMarker").unwrap(),
        r.text("NextPartNumberMarker").unwrap(),
        r.text("MaxParts").unwrap(),
        r.text("IsTruncated").unwrap(),
    )
}

fn strings(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

#[test]
fn lists_the_uploaded_parts_ascending_with_their_etags_crcs_and_sizes() {
    let emu = Emulator::start().unwrap();
    let up = Upload::initiate(&emu, "dir/listed.bin");
    let before = unix_now();
    // Sent out of order; part 2 sent twice (the second one counts).
    let p3 = up.part(3, &[3u8; 3000]);
    let p1 = up.part(1, &[1u8; 1000]);
    up.part(2, &[2u8; 2000]);
    let p2 = up.part(2, &[22u8; 2500]);
    let after = unix_now();

    let r = up.list(&[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("Content-Type"), Some("application/xml"));
    assert!(r.header("x-oss-request-id").is_some());
    assert!(r.body.starts_with("<?xml"), "{}", r.body);
    assert_eq!(elements(&r.body, "ListPartsResult").len(), 1, "{}", r.body);
    assert_eq!(r.text("Bucket").unwrap(), up.bucket);
    assert_eq!(r.text("Key").unwrap(), "dir/listed.bin");
    assert_eq!(r.text("UploadId").unwrap(), up.id);
    assert_eq!(r.text("EncodingType"), None);
    assert_eq!(paging(&r), strings("0", "3", "1000", "false"));
    let parts = listed(&r);
    assert_eq!(parts, vec![p1.clone(), p2.clone(), p3.clone()]);
    // ETags quoted as UploadPart answers them, and different for different bytes.
    assert!(parts
        .iter()
        .all(|p| p.etag.starts_with('"') && p.etag.ends_with('"')));
    assert_ne!(p1.etag, p2.etag);
    // LastModified: when each part was stored, in OSS's format.
    let when: Vec<String> = (before..=after).map(oss_time).collect();
    for p in elements(&r.body, "Part") {
        let t = text(p, "LastModified").unwrap();
        assert!(when.contains(&t), "{t} not in {when:?}");
    }

    // Recorded like the other requests.
    let reqs = emu.requests();
    let rec = reqs.last().unwrap();
    assert_eq!(rec.method, "GET");
    assert_eq!(rec.path, format!("/{}/dir/listed.bin", up.bucket));
    assert_eq!(rec.param("uploadId"), Some(up.id.as_str()));
    assert_eq!((rec.status, rec.code.as_deref()), (200, None));

    // Listing changes nothing: the upload completes with the listed parts.
    let xml: String = parts
        .iter()
        .map(|p| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                p.number, p.etag
            )
        })
        .collect();
    // Parts but the last must be 100 KiB: 1 KiB parts are EntityTooSmall,
    // which shows the list was checked against the stored parts.
    let body = format!("<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>");
    let q = [("uploadId", Some(up.id.as_str()))];
    let r = send(&emu, "POST", &up.bucket, &up.key, &q, body.as_bytes(), None);
    assert_eq!(
        (r.status, r.text("Code").as_deref()),
        (400, Some("EntityTooSmall"))
    );
    assert_eq!(emu.oss_uploads_in_progress(), 1);
}

#[test]
fn an_upload_without_parts_lists_none() {
    let emu = Emulator::start().unwrap();
    let up = Upload::initiate(&emu, "empty");
    let r = up.list(&[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(listed(&r).is_empty(), "{}", r.body);
    assert_eq!(paging(&r), strings("0", "0", "1000", "false"));
}

#[test]
fn pages_with_max_parts_and_part_number_marker() {
    let emu = Emulator::start().unwrap();
    let up = Upload::initiate(&emu, "paged");
    let sent: Vec<Sent> = [1u32, 2, 5]
        .iter()
        .map(|&n| up.part(n, &vec![n as u8; 100 * n as usize]))
        .collect();

    // One part a page, following NextPartNumberMarker as the SDKs do.
    let mut marker = String::from("0");
    let mut pages = Vec::new();
    loop {
        let r = up.list(&[
            ("part-number-marker", Some(&marker)),
            ("max-parts", Some("1")),
        ]);
        assert_eq!(r.status, 200, "{}", r.body);
        let (m, next, max, truncated) = paging(&r);
        assert_eq!((m.as_str(), max.as_str()), (marker.as_str(), "1"));
        pages.push((listed(&r), next.clone(), truncated.clone()));
        if truncated == "false" {
            break;
        }
        marker = next;
        assert!(pages.len() < 10, "{pages:?}");
    }
    let expected: Vec<(Vec<Sent>, String, String)> = vec![
        (vec![sent[0].clone()], "1".into(), "true".into()),
        (vec![sent[1].clone()], "2".into(), "true".into()),
        (vec![sent[2].clone()], "5".into(), "false".into()),
    ];
    assert_eq!(pages, expected);

    // Only parts after the marker, the marker itself need not be a part.
    let r = up.list(&[("part-number-marker", Some("3"))]);
    assert_eq!(numbers(&r), [5]);
    assert_eq!(paging(&r), strings("3", "5", "1000", "false"));
    let r = up.list(&[("part-number-marker", Some("1")), ("max-parts", Some("2"))]);
    assert_eq!(numbers(&r), [2, 5]);
    assert_eq!(paging(&r), strings("1", "5", "2", "false"));
    let r = up.list(&[("max-parts", Some("2"))]);
    assert_eq!(numbers(&r), [1, 2]);
    assert_eq!(paging(&r), strings("0", "2", "2", "true"));
    // Past the last part: none, not truncated, the marker back.
    let r = up.list(&[("part-number-marker", Some("5"))]);
    assert!(numbers(&r).is_empty());
    assert_eq!(paging(&r), strings("5", "5", "1000", "false"));
    let r = up.list(&[("part-number-marker", Some("20000"))]);
    assert!(numbers(&r).is_empty(), "{}", r.body);
    // Empty values (oss2's `list_parts` sends `part-number-marker=` by
    // default) are the defaults.
    let r = up.list(&[("part-number-marker", Some("")), ("max-parts", Some(""))]);
    assert_eq!(numbers(&r), [1, 2, 5]);
    assert_eq!(paging(&r), strings("0", "5", "1000", "false"));
    // The largest page.
    let r = up.list(&[("max-parts", Some("1000"))]);
    assert_eq!(numbers(&r), [1, 2, 5]);
}

#[test]
fn encoding_type_url_encodes_the_key() {
    let emu = Emulator::start().unwrap();
    let up = Upload::initiate(&emu, "dir/a b&c<ü>.bin");
    up.part(1, b"x");
    let r = up.list(&[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.text("Key").unwrap(), "dir/a b&amp;c&lt;ü&gt;.bin");
    assert_eq!(r.text("EncodingType"), None);
    let r = up.list(&[("encoding-type", Some("url"))]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.text("EncodingType").as_deref(), Some("url"));
    assert_eq!(
        r.text("Key").unwrap(),
        "dir%2Fa%20b%26c%3C%C3%BC%3E.bin",
        "{}",
        r.body
    );
    assert_eq!(numbers(&r), [1]);
}

#[test]
fn bad_arguments_are_invalid_argument() {
    let emu = Emulator::start().unwrap();
    let up = Upload::initiate(&emu, "args");
    up.part(1, b"x");
    for (name, value) in [
        ("max-parts", "0"),
        ("max-parts", "1001"),
        ("max-parts", "-1"),
        ("max-parts", "ten"),
        ("part-number-marker", "-1"),
        ("part-number-marker", "1.5"),
        ("encoding-type", "base64"),
    ] {
        let r = up.list(&[(name, Some(value))]);
        assert_eq!(
            (r.status, r.text("Code").as_deref()),
            (400, Some("InvalidArgument")),
            "{name}={value}: {}",
            r.body
        );
    }
}

#[test]
fn unknown_finished_or_foreign_uploads_are_no_such_upload() {
    let emu = Emulator::start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let no_such_upload = |r: &Reply| {
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(
            r.text("Code").as_deref(),
            Some("NoSuchUpload"),
            "{}",
            r.body
        );
        assert!(r.text("RequestId").is_some());
    };
    no_such_upload(&list_parts(
        &emu,
        &bucket,
        "k",
        "0004B999EF5A239BB9138C6227D69F95",
        &[],
    ));

    // Another key's upload.
    let up = Upload::initiate(&emu, "k");
    up.part(1, b"x");
    no_such_upload(&list_parts(&emu, &bucket, "other", &up.id, &[]));
    assert_eq!(up.list(&[]).status, 200);
    let rec = emu.requests();
    let miss = rec
        .iter()
        .find(|r| r.method == "GET" && r.path.ends_with("/other"))
        .unwrap();
    assert_eq!(
        (miss.status, miss.code.as_deref()),
        (404, Some("NoSuchUpload"))
    );

    // Aborted.
    let q = [("uploadId", Some(up.id.as_str()))];
    assert_eq!(
        send(&emu, "DELETE", &bucket, "k", &q, b"", None).status,
        204
    );
    no_such_upload(&up.list(&[]));

    // Completed.
    let up = Upload::initiate(&emu, "done");
    let p = up.part(1, b"only part");
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        p.etag
    );
    let q = [("uploadId", Some(up.id.as_str()))];
    let r = send(&emu, "POST", &bucket, "done", &q, body.as_bytes(), None);
    assert_eq!(r.status, 200, "{}", r.body);
    no_such_upload(&up.list(&[]));

    // A bucket PrepareUpload never handed out.
    let r = list_parts(&emu, "nobody", "k", "X", &[]);
    assert_eq!(
        r.text("Code").as_deref(),
        Some("NoSuchBucket"),
        "{}",
        r.body
    );
}

#[test]
fn the_signature_covers_upload_id_and_not_the_paging_parameters() {
    let emu = Emulator::start().unwrap();
    let up = Upload::initiate(&emu, "signed");
    up.part(1, b"x");
    let q = [
        ("uploadId", Some(up.id.as_str())),
        ("max-parts", Some("1")),
        ("part-number-marker", Some("0")),
        ("encoding-type", Some("url")),
    ];
    let expected_resource = format!("/{}/signed?uploadId={}", up.bucket, up.id);
    assert_eq!(
        oss_canonical_resource(Some(&up.bucket), "signed", &q),
        expected_resource
    );
    let r = send(&emu, "GET", &up.bucket, "signed", &q, b"", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(numbers(&r), [1]);

    // Signing without the uploadId, or with the paging parameters in the
    // resource, does not match: the server's StringToSign shows its resource.
    let without = format!("/{}/signed", up.bucket);
    let with_paging = format!(
        "/{}/signed?encoding-type=url&max-parts=1&part-number-marker=0&uploadId={}",
        up.bucket, up.id
    );
    for wrong in [without, with_paging] {
        let r = send(&emu, "GET", &up.bucket, "signed", &q, b"", Some(&wrong));
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.text("Code").as_deref(), Some("SignatureDoesNotMatch"));
        let sts = r.text("StringToSign").unwrap();
        assert!(sts.starts_with("GET\n\n\n"), "{sts:?}");
        assert!(sts.ends_with(&format!("\n{expected_resource}")), "{sts:?}");
    }
    let last = emu.requests().pop().unwrap();
    assert_eq!(last.code.as_deref(), Some("SignatureDoesNotMatch"));
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ens-upload-test-emuoss-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn lists_what_a_cancelled_library_upload_left_open() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("cancelled");
    let path = dir.path("c.bin");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let ckpt = dir.path("c.ckpt");
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .read_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let opts = || {
        UploadOptions::new()
            .part_size(MIN_PART_SIZE)
            .multipart_threshold(MIN_PART_SIZE)
            .threads(1)
            .checkpoint(&ckpt)
    };
    let req = PrepareUploadRequest::new("test");
    let cancel = opts().on_progress(|done, _| {
        if done >= 350_000 {
            ProgressAction::Cancel
        } else {
            ProgressAction::Continue
        }
    });
    let e = client.upload_file(&req, "c", &path, &cancel).unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
    assert_eq!(emu.oss_uploads_in_progress(), 1);

    // The parts answered 200 are the ones listed, with the sizes sent.
    let reqs = emu.requests();
    let put_parts: Vec<_> = reqs
        .iter()
        .filter(|r| r.method == "PUT" && r.param("partNumber").is_some() && r.status == 200)
        .collect();
    let id = put_parts[0].param("uploadId").unwrap().to_owned();
    let mut stored: Vec<(u32, usize)> = put_parts
        .iter()
        .map(|r| (r.param("partNumber").unwrap().parse().unwrap(), r.body_len))
        .collect();
    stored.sort();
    let bucket = emu.oss_bucket_for("test");
    let r = list_parts(&emu, &bucket, "c", &id, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let parts = listed(&r);
    let got: Vec<(u32, usize)> = parts.iter().map(|p| (p.number, p.size)).collect();
    assert_eq!(got, stored);
    // Each the size of its slice of the file (the last one is shorter, and
    // may be up already: the cancel comes when the progress says so).
    for (n, size) in &got {
        let left = data.len() as u64 - u64::from(n - 1) * MIN_PART_SIZE;
        assert_eq!(*size as u64, left.min(MIN_PART_SIZE), "{got:?}");
    }
    let ckpt_parts = common::checkpoint_parts(&ckpt).unwrap();
    assert!(ckpt_parts.len() >= 3, "{ckpt_parts:?}");
    assert!(
        ckpt_parts.iter().all(|n| got.iter().any(|(g, _)| g == n)),
        "checkpoint {ckpt_parts:?}, listed {got:?}"
    );

    // The resume completes it; its upload is then gone.
    let out = client.upload_file(&req, "c", &path, &opts()).unwrap();
    assert_eq!(out.upload_id.as_deref(), Some(id.as_str()));
    assert_eq!(emu.oss_object_bytes(&bucket, "c").unwrap(), data);
    let r = list_parts(&emu, &bucket, "c", &id, &[]);
    assert_eq!(
        r.text("Code").as_deref(),
        Some("NoSuchUpload"),
        "{}",
        r.body
    );
}

#[test]
fn the_request_log_keeps_only_the_most_recent_requests() {
    let emu = Emulator::builder().request_log_limit(3).start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    for n in 0..5 {
        let r = send(&emu, "PUT", &bucket, &format!("k{n}"), &[], b"x", None);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let paths: Vec<String> = emu.requests().into_iter().map(|r| r.path).collect();
    let want: Vec<String> = (2..5).map(|n| format!("/{bucket}/k{n}")).collect();
    assert_eq!(paths, want, "the oldest two were forgotten, in order");
    // Forgetting requests forgets nothing stored.
    assert_eq!(
        emu.oss_object_bytes(&bucket, "k0").as_deref(),
        Some(&b"x"[..])
    );
}

/// How a request is signed with V4 by [`send_v4`].
#[derive(Clone)]
struct V4 {
    key_id: &'static str,
    secret: &'static str,
    token: Option<&'static str>,
    region: &'static str,
    /// The `x-oss-date` sent (None: no such header), Unix seconds.
    when: Option<i64>,
    /// Additional headers to sign (`host` is the only one sent besides the
    /// defaults).
    additional: &'static [&'static str],
    /// Sign this key instead of the one sent (to sign the wrong thing).
    signed_key: Option<&'static str>,
}

impl Default for V4 {
    fn default() -> V4 {
        V4 {
            key_id: KEY_ID,
            secret: SECRET,
            token: None,
            region: "cn-hangzhou",
            when: Some(unix_now()),
            additional: &[],
            signed_key: None,
        }
    }
}

/// `20240506T070809Z`.
fn oss_date(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil(unix.div_euclid(86_400));
    format!(
        "{y}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Signs one request with OSS signature V4, as the official SDKs do, and
/// sends it (path-style). Returns the answer and the canonical request the
/// client signed.
fn send_v4(
    emu: &Emulator,
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(&str, Option<&str>)],
    body: &[u8],
    how: &V4,
) -> (Reply, String) {
    let date = how.when.map(oss_date).unwrap_or_default();
    let mut headers = vec![
        (
            "Content-Type".to_owned(),
            "application/octet-stream".to_owned(),
        ),
        ("x-oss-meta-Owner".to_owned(), "Tester".to_owned()),
        (
            "x-oss-content-sha256".to_owned(),
            "UNSIGNED-PAYLOAD".to_owned(),
        ),
    ];
    if how.when.is_some() {
        headers.push(("x-oss-date".to_owned(), date.clone()));
    }
    if let Some(t) = how.token {
        headers.push(("x-oss-security-token".to_owned(), t.to_owned()));
    }
    let mut signed = headers.clone();
    signed.push(("host".to_owned(), emu.addr().to_string()));
    let sig = oss_v4(
        method,
        Some(bucket),
        how.signed_key.unwrap_or(key),
        query,
        &signed,
        how.additional,
        how.region,
        &date,
        how.secret,
    );
    headers.push(("Authorization".to_owned(), sig.authorization(how.key_id)));
    let reply = exchange(emu, method, &target(bucket, key, query), &headers, body);
    (reply, sig.canonical_request)
}

#[test]
fn v4_signed_uploads_and_downloads_are_served() {
    let emu = Emulator::builder()
        .oss_region("cn-hangzhou")
        .start()
        .unwrap();
    let bucket = emu.oss_bucket_for("test");
    let v4 = V4::default();
    let sts = V4 {
        key_id: ens_upload::emulator::TEST_STS_ACCESS_KEY_ID,
        secret: ens_upload::emulator::TEST_STS_ACCESS_KEY_SECRET,
        token: Some(ens_upload::emulator::TEST_SECURITY_TOKEN),
        ..V4::default()
    };
    let with_host = V4 {
        additional: &["host"],
        ..V4::default()
    };
    for (how, key) in [
        (&v4, "dir/a b+c~%.bin"),
        (&sts, "sts/测试.bin"),
        (&with_host, "host.bin"),
    ] {
        let (r, _) = send_v4(&emu, "PUT", &bucket, key, &[], b"v4 body", how);
        assert_eq!(r.status, 200, "{key}: {}", r.body);
        let (r, _) = send_v4(&emu, "GET", &bucket, key, &[], b"", how);
        assert_eq!((r.status, r.body.as_str()), (200, "v4 body"), "{key}");
        let rec = emu.requests().pop().unwrap();
        assert!(rec
            .header("authorization")
            .unwrap()
            .starts_with("OSS4-HMAC-SHA256 Credential="));
    }

    // Multipart, with the sub-resources in the query signed.
    let key = "big/v4.bin";
    let (r, _) = send_v4(&emu, "POST", &bucket, key, &[("uploads", None)], b"", &v4);
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.text("UploadId").unwrap();
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (n, part) in [
        (1u32, vec![1u8; MIN_PART_SIZE as usize]),
        (2, vec![2u8; 10]),
    ] {
        let number = n.to_string();
        let q = [
            ("partNumber", Some(number.as_str())),
            ("uploadId", Some(&*id)),
        ];
        let (r, _) = send_v4(&emu, "PUT", &bucket, key, &q, &part, &v4);
        assert_eq!(r.status, 200, "{}", r.body);
        let tag = r.header("ETag").unwrap();
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{tag}</ETag></Part>"
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let q = [
        ("uploadId", Some(id.as_str())),
        ("encoding-type", Some("url")),
    ];
    let (r, _) = send_v4(&emu, "POST", &bucket, key, &q, xml.as_bytes(), &v4);
    assert_eq!(r.status, 200, "{}", r.body);
    let stored = emu.oss_object_bytes(&bucket, key).unwrap();
    assert_eq!(stored.len(), MIN_PART_SIZE as usize + 10);
}

#[test]
fn v4_region_is_taken_from_the_scope_and_checked_when_the_emulator_has_one() {
    let singapore = V4 {
        region: "ap-southeast-1",
        ..V4::default()
    };
    // No region configured: any region signs (the key derives from it).
    let emu = Emulator::start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let (r, _) = send_v4(&emu, "PUT", &bucket, "k", &[], b"x", &singapore);
    assert_eq!(r.status, 200, "{}", r.body);

    let emu = Emulator::builder()
        .oss_region("cn-hangzhou")
        .start()
        .unwrap();
    for region in ["ap-southeast-1", "oss-cn-hangzhou", ""] {
        let how = V4 {
            region,
            ..V4::default()
        };
        let (r, _) = send_v4(&emu, "PUT", &bucket, "k", &[], b"x", &how);
        assert_eq!(r.status, 400, "{region}: {}", r.body);
        assert_eq!(r.text("Code").as_deref(), Some("InvalidArgument"));
        assert_eq!(
            r.text("Message").as_deref(),
            Some("Invalid signing region in Authorization header.")
        );
        assert_eq!(r.text("EC").as_deref(), Some("0002-00000226"));
    }
    assert!(emu.oss_object(&bucket, "k").is_none());
    let (r, _) = send_v4(&emu, "PUT", &bucket, "k", &[], b"x", &V4::default());
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn v4_mismatch_shows_the_servers_canonical_request_and_string_to_sign() {
    let emu = Emulator::start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let q = [("uploads", None)];

    // The wrong secret: the server canonicalized the same request.
    let wrong_secret = V4 {
        secret: "not-the-secret",
        ..V4::default()
    };
    let (r, ours) = send_v4(&emu, "POST", &bucket, "a b", &q, b"", &wrong_secret);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.text("Code").as_deref(), Some("SignatureDoesNotMatch"));
    let theirs = r.text("CanonicalRequest").unwrap();
    assert_eq!(theirs, ours);
    assert!(
        theirs.starts_with(&format!("POST\n/{bucket}/a%20b\nuploads\n")),
        "{theirs}"
    );
    let sts = r.text("StringToSign").unwrap();
    assert!(sts.starts_with("OSS4-HMAC-SHA256\n"), "{sts}");
    assert!(
        sts.contains("/cn-hangzhou/oss/aliyun_v4_request\n"),
        "{sts}"
    );

    // Another key signed: the server's canonical request shows the key sent.
    let other_key = V4 {
        signed_key: Some("other"),
        ..V4::default()
    };
    let (r, ours) = send_v4(&emu, "POST", &bucket, "sent", &q, b"", &other_key);
    assert_eq!(r.status, 403, "{}", r.body);
    let theirs = r.text("CanonicalRequest").unwrap();
    assert_ne!(theirs, ours);
    assert!(
        theirs.starts_with(&format!("POST\n/{bucket}/sent\n")),
        "{theirs}"
    );

    // An additional header listed but not sent is not signed by the server.
    let unsent = V4 {
        additional: &["x-not-sent"],
        ..V4::default()
    };
    let (r, _) = send_v4(&emu, "POST", &bucket, "k", &q, b"", &unsent);
    assert_eq!(
        r.status, 200,
        "the signer leaves it out, as the SDKs do: {}",
        r.body
    );
    assert_eq!(emu.oss_uploads_in_progress(), 1);
}

#[test]
fn v4_x_oss_date_is_checked_against_the_clock() {
    let emu = Emulator::builder().clock_skew_secs(3600).start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let now = unix_now();
    for (when, status, code) in [
        (Some(now + 3600), 200, None),
        (Some(now), 403, Some("RequestTimeTooSkewed")),
        (
            Some(now + 3600 - 16 * 60),
            403,
            Some("RequestTimeTooSkewed"),
        ),
        (None, 403, Some("AccessDenied")),
    ] {
        let how = V4 {
            when,
            ..V4::default()
        };
        let (r, _) = send_v4(&emu, "PUT", &bucket, "k", &[], b"x", &how);
        assert_eq!(
            (r.status, r.text("Code").as_deref()),
            (status, code),
            "{when:?}: {}",
            r.body
        );
    }
}

#[test]
fn v4_sts_tokens_come_in_x_oss_security_token() {
    let emu = Emulator::start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let sts = V4 {
        key_id: ens_upload::emulator::TEST_STS_ACCESS_KEY_ID,
        secret: ens_upload::emulator::TEST_STS_ACCESS_KEY_SECRET,
        token: Some(ens_upload::emulator::TEST_SECURITY_TOKEN),
        ..V4::default()
    };
    let (r, _) = send_v4(&emu, "PUT", &bucket, "k", &[], b"x", &sts);
    assert_eq!(r.status, 200, "{}", r.body);
    for token in [None, Some("CAIS+not-the-token")] {
        let how = V4 {
            token,
            ..sts.clone()
        };
        let (r, _) = send_v4(&emu, "PUT", &bucket, "k", &[], b"x", &how);
        assert_eq!(r.status, 403, "{token:?}: {}", r.body);
        assert_eq!(r.text("Code").as_deref(), Some("InvalidSecurityToken"));
    }
    // The token is signed: the canonical request the server shows has it.
    let wrong = V4 {
        secret: "wrong",
        ..sts
    };
    let (r, _) = send_v4(&emu, "PUT", &bucket, "k", &[], b"x", &wrong);
    let theirs = r.text("CanonicalRequest").unwrap();
    assert!(
        theirs.contains("\nx-oss-security-token:CAIS+EmulatorToken/with=chars\n"),
        "{theirs}"
    );
}

#[test]
fn refusing_v1_answers_it_as_a_new_bucket_does_and_v4_still_works() {
    let emu = Emulator::builder().oss_refuse_v1().start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let r = send(&emu, "PUT", &bucket, "k", &[], b"x", None);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.text("Code").as_deref(), Some("AccessDenied"));
    assert_eq!(r.text("EC").as_deref(), Some("0002-00000080"));
    assert_eq!(r.header("x-oss-ec"), Some("0002-00000080"));
    assert!(r.text("Message").unwrap().contains("V4"), "{}", r.body);
    assert!(emu.oss_object(&bucket, "k").is_none());
    let rec = emu.requests().pop().unwrap();
    assert_eq!(
        (rec.status, rec.code.as_deref()),
        (403, Some("AccessDenied"))
    );

    let (r, _) = send_v4(&emu, "PUT", &bucket, "k", &[], b"x", &V4::default());
    assert_eq!(r.status, 200, "{}", r.body);
    // By default V1 is accepted (buckets made before September 2025).
    let emu = Emulator::start().unwrap();
    let r = send(&emu, "PUT", &bucket, "k", &[], b"x", None);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn an_error_answer_to_head_has_no_body() {
    let emu = Emulator::start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let (r, _) = send_v4(&emu, "HEAD", &bucket, "missing", &[], b"", &V4::default());
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "", "a body would be read as the next answer");
    let announced: usize = r.header("Content-Length").unwrap().parse().unwrap();
    assert!(announced > 0, "the length GET would have");
    let rec = emu.requests().pop().unwrap();
    assert_eq!(rec.code.as_deref(), Some("NoSuchKey"));
}
