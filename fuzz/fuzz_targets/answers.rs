//! Arbitrary answers to `Client::upload_file`, end to end: a loopback
//! server answers the `PrepareUpload` call and every OSS request after it
//! from a script the input decodes into (status, headers such as `Date`,
//! `Retry-After`, `x-acs-retry-after`, `x-oss-hash-crc64ecma`,
//! `Content-Length`, `ETag`, `Location`; JSON and OSS XML bodies, raw
//! bytes, a closed connection), and a checkpoint file may be left before
//! the call (bytes, or JSON in the client's format with fields right or
//! wrong).
//!
//! The server, the upload and the checks are `fuzz/common/answers.rs`,
//! shared with the property test `upload_survives_arbitrary_answers` in
//! `tests/properties.rs`: no panic, no hang, no redirect followed, success
//! only with the right object confirmed by the server, typed errors
//! consistent with the answers, no secret or token in an error, a file
//! that is not a checkpoint never overwritten.
//!
//! Nothing leaves the machine: the client talks to `127.0.0.1`, and the
//! `Endpoint`s a scripted `PrepareUpload` answer may hand out are taken
//! from a fixed list of loopback or invalid ones (never fuzzed text, which
//! could name a real host).
//!
//! Input: decoded with `arbitrary::Unstructured` in the order of [`case`].
#![no_main]

#[path = "../common/answers.rs"]
mod answers;

use std::time::Duration;

use answers::{http_date, Answer, Body, Case, Checkpoint, CheckpointJson, Crc, Length, PartJson};
use ens_upload::upload::MIN_PART_SIZE;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const HEADER_NAMES: &[&str] = &[
    "Date",
    "Retry-After",
    "x-acs-retry-after",
    "x-oss-hash-crc64ecma",
    "Content-Length",
    "ETag",
    "x-oss-request-id",
    "Location",
    "Transfer-Encoding",
    "Content-Type",
    "Connection",
];

/// Values that mean something to one header or another.
const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    " 1 ",
    "1.5",
    "",
    "chunked",
    "close",
    "keep-alive",
    "\"E-1\"",
    "http://{sink}/x",
    "{sink}",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Sun, 31 Feb 2027 08:49:37 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sun, 06 Nov 99999999999999999 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
];

const CODES: &[&str] = &[
    "NoSuchUpload",
    "InvalidPart",
    "RequestTimeTooSkewed",
    "SignatureDoesNotMatch",
    "InternalError",
    "AccessDenied",
    "NoSuchKey",
    "NoSuchBucket",
    "Throttling",
    "Throttling.User",
    "ServiceUnavailable",
    "InvalidTimeStamp.Expired",
    "",
];

const ENDPOINTS: &[&str] = &[
    "{self}",
    "http://{self}",
    "https://{self}",
    "ftp://{self}",
    "{self}/",
    "{self}/path",
    "",
    "[::1]:1",
    "{self}:1",
    "host name",
    "user@{self}",
    "127.0.0.1:0",
    "localhost:1",
    "HTTP://{self}",
];

const BUCKETS: &[&str] = &["test-a1b2c3", "TEST", "a", "", "ok-bucket", "-x-", "a..b"];

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(if u.ratio(1, 3)? {
        (*u.choose(&[
            "a&b",
            "<x>",
            "&amp;&#x41;&#65;&bogus;",
            "]]>",
            "&#xFFFFFFFF;",
            "&#0;",
            "x-oss-security-token:{self}",
            "</Code><Code>",
        ])?)
        .to_owned()
    } else {
        let n = u.int_in_range(0..=40)?;
        String::from_utf8_lossy(u.bytes(n.min(u.len()))?).into_owned()
    })
}

fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u8>> {
    let n = u.int_in_range(0..=max)?;
    Ok(u.bytes(n.min(u.len()))?.to_vec())
}

fn header_value(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => bytes(u, 40)?,
        1 => {
            // A date near now, skewed by up to a few hours, or far out.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let skew: i32 = u.arbitrary()?;
            http_date(now + i64::from(skew) % (6 * 3600)).into_bytes()
        }
        2 => u.int_in_range(0u64..=3)?.to_string().into_bytes(),
        _ => u.choose(VALUES)?.as_bytes().to_vec(),
    })
}

fn body(u: &mut Unstructured<'_>) -> Result<Body> {
    Ok(match u.int_in_range(0..=12)? {
        0..=3 => Body::Default,
        4 => Body::Bytes(bytes(u, 300)?),
        5 => Body::Prepare {
            bucket: if u.ratio(1, 4)? {
                text(u)?
            } else {
                (*u.choose(BUCKETS)?).to_owned()
            },
            endpoint: (*u.choose(ENDPOINTS)?).to_owned(),
        },
        6 => Body::RpcError {
            code: (*u.choose(CODES)?).to_owned(),
            message: text(u)?,
        },
        7 | 8 => Body::OssError {
            code: if u.ratio(1, 5)? {
                text(u)?
            } else {
                (*u.choose(CODES)?).to_owned()
            },
            message: text(u)?,
            request_id: text(u)?,
            string_to_sign: if u.arbitrary()? { Some(text(u)?) } else { None },
            escape: u.arbitrary()?,
        },
        9 => Body::Initiate {
            upload_id: text(u)?,
            escape: u.arbitrary()?,
        },
        10 => Body::Complete {
            etag: text(u)?,
            escape: u.arbitrary()?,
        },
        11 => Body::Huge(*u.choose(&[(1usize << 20), (1 << 20) + 1])?),
        _ => Body::Echo {
            prefix: u.int_in_range(0..=300)?,
        },
    })
}

fn answer(u: &mut Unstructured<'_>) -> Result<Answer> {
    Ok(match u.int_in_range(0..=12)? {
        0 => Answer::Close,
        // Silence costs a read timeout per execution: only a short one.
        1 => Answer::Silent(Duration::from_millis(u.int_in_range(0..=5)?)),
        2 => Answer::Raw(if u.arbitrary()? {
            bytes(u, 64)?
        } else {
            u.choose(&[
                &b"HTTP/1.1 200 OK\r\n"[..],
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
                b"HTTP/1.0 200 OK\r\n\r\n",
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            ])?
            .to_vec()
        }),
        _ => {
            let status = match u.int_in_range(0..=5)? {
                0 => None,
                1 => Some(u.int_in_range(100..=999)?),
                _ => Some(*u.choose(&[
                    200u16, 201, 204, 206, 301, 302, 303, 304, 307, 308, 400, 403, 404, 409, 412,
                    500, 502, 503, 504,
                ])?),
            };
            let mut headers = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                let name = if u.ratio(1, 10)? {
                    String::from_utf8_lossy(&bytes(u, 12)?).into_owned()
                } else {
                    (*u.choose(HEADER_NAMES)?).to_owned()
                };
                headers.push((name, header_value(u)?));
            }
            let crc = match u.int_in_range(0..=6)? {
                0 => Crc::Xor(u.arbitrary()?),
                1 => Crc::Absent,
                2 => Crc::Raw(header_value(u)?),
                _ => Crc::Right,
            };
            let length = match u.int_in_range(0..=7)? {
                0 => Length::Absent,
                1 => Length::Raw(header_value(u)?),
                _ => Length::Right,
            };
            Answer::Http {
                status,
                headers,
                crc,
                length,
                body: body(u)?,
            }
        }
    })
}

fn checkpoint(u: &mut Unstructured<'_>) -> Result<Checkpoint> {
    if u.ratio(1, 4)? {
        return Ok(Checkpoint::Bytes(bytes(u, 200)?));
    }
    let mut parts = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        parts.push(PartJson {
            number: u.int_in_range(0..=5)?,
            etag: text(u)?,
            crc64: if u.ratio(1, 5)? { Some(text(u)?) } else { None },
            size: if u.ratio(1, 5)? {
                Some(*u.choose(&[0, 1, MIN_PART_SIZE, u64::MAX])?)
            } else {
                None
            },
        });
    }
    Ok(Checkpoint::Json(CheckpointJson {
        format_right: !u.ratio(1, 8)?,
        place_right: !u.ratio(1, 8)?,
        key_right: !u.ratio(1, 8)?,
        file_right: !u.ratio(1, 8)?,
        upload_id: text(u)?,
        // Not below 50,000: tiny parts of a resumed upload would take
        // thousands of requests.
        part_size: if u.ratio(1, 4)? {
            Some(*u.choose(&[0, 50_000, MIN_PART_SIZE / 2, 1 << 40, u64::MAX])?)
        } else {
            None
        },
        parts,
        mangle: if u.ratio(1, 8)? {
            Some(
                (*u.choose(&["format", "parts", "file", "part_size", "upload_id", "extra"])?)
                    .to_owned(),
            )
        } else {
            None
        },
    }))
}

fn case(u: &mut Unstructured<'_>) -> Result<Case> {
    let size = u.choose_index(answers::SIZES.len())?;
    let multipart_threshold = *u.choose(&[0, 1000, MIN_PART_SIZE, 8 << 20])?;
    let part_size = *u.choose(&[MIN_PART_SIZE, MIN_PART_SIZE + 1000])?;
    let retries = u.int_in_range(0..=2)?;
    let checkpoint = if u.ratio(1, 4)? {
        Some(checkpoint(u)?)
    } else {
        None
    };
    let mut script = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        script.push(if u.ratio(2, 5)? {
            Some(answer(u)?)
        } else {
            None
        });
    }
    Ok(Case {
        size,
        multipart_threshold,
        part_size,
        retries,
        // Generous for loopback on a loaded machine (a correct answer must
        // never time out), short enough that a server's wait of a second
        // on a data request is refused rather than slept.
        read_timeout: Duration::from_millis(500),
        call_timeout: Duration::from_millis(500),
        checkpoint,
        answers: script,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(case) = case(&mut u) else { return };
    let out = answers::run(&case);
    if let Err(why) = answers::check(&case, &out) {
        panic!("{why}\ncase: {case:#?}");
    }
});
