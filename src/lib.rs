//! # ens-upload
//!
//! A small blocking client for edge devices that upload files to Alibaba
//! Cloud. It asks ENS (Edge Node Service, API 2017-11-10) where to upload
//! (`PrepareUpload`: which bucket, on which endpoint), then uploads there
//! over the OSS REST API. Requests are signed with RPC signature 1.0
//! (HMAC-SHA1), byte for byte as the official SDKs sign them. The same
//! library has a C API ([`ffi`]).
//!
//! This page is the guide; the items below it are the reference. The
//! repository's `docs/` folder explains the rest: `upload.md`,
//! `reliability.md`, `credentials.md`, `emulator.md`, `c-api.md`,
//! `testing.md`, `performance.md` and `architecture.md`.
//!
//! ## Quick start
//!
//! Build a [`Client`] once and share it: it is `Send + Sync`, cheap to clone,
//! and keeps a keep-alive connection pool. Then ask where to upload:
//!
//! ```no_run
//! use ens_upload::{Client, Credentials, PrepareUploadRequest};
//!
//! fn main() -> Result<(), ens_upload::Error> {
//!     let client = Client::builder()
//!         // Omit this line to use the default chain: environment,
//!         // credentials file, aliyun CLI config.
//!         .credentials(Credentials::access_key("LTAI...", "secret"))
//!         .build()?;
//!     let request = PrepareUploadRequest::new("test").client_ip("180.166.1.2");
//!     let place = client.prepare_upload(&request)?;
//!     println!("{} {} {}", place.request_id, place.bucket_name, place.endpoint);
//!     Ok(())
//! }
//! ```
//!
//! [`ClientBuilder`] sets the endpoint (default [`DEFAULT_ENDPOINT`]),
//! credentials ([`Credentials`]), timeouts, retries, proxy and CA files.
//! [`Client::call`] signs and sends any other ENS 2017-11-10 action and
//! returns its JSON. [`sign::rpc_v1`] is the signer as a pure function.
//!
//! ## Uploads
//!
//! [`Client::upload_file`] calls `PrepareUpload`, then puts the file in the
//! bucket and endpoint it returned: one PutObject up to
//! [`UploadOptions::multipart_threshold`] (8 MiB by default), above that a
//! multipart upload on [`UploadOptions::threads`] threads. Every body's
//! CRC-64 ([`crc64`]) is checked against the server's. With
//! [`UploadOptions::checkpoint`], the same call resumes after a crash, a
//! kill or a cancel. [`UploadOptions::on_progress`] reports progress on the
//! calling thread and can cancel. [`Client::upload_reader`] takes any reader
//! of known length instead of a file.
//!
//! This example runs against the bundled [`emulator`] (feature `emulator`):
//!
//! ```
//! # #[cfg(feature = "emulator")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ens_upload::emulator::Emulator;
//! use ens_upload::{crc64, Client, PrepareUploadRequest, ProgressAction, UploadOptions};
//!
//! let emu = Emulator::start()?;
//! let client = Client::builder()
//!     .endpoint(emu.endpoint())
//!     .credentials(emu.credentials())
//!     .build()?;
//!
//! let data = vec![7u8; 300 * 1024];
//! let path = std::env::temp_dir().join(format!("ens-upload-doc-{}.bin", std::process::id()));
//! std::fs::write(&path, &data)?;
//!
//! let options = UploadOptions::new()
//!     .part_size(100 * 1024)
//!     .multipart_threshold(100 * 1024) // small, so this goes in 3 parts
//!     .on_progress(|done, total| {
//!         assert!(done <= total);
//!         ProgressAction::Continue // or ProgressAction::Cancel
//!     });
//! let out = client.upload_file(&PrepareUploadRequest::new("test"), "doc/example.bin", &path, &options)?;
//! std::fs::remove_file(&path)?;
//!
//! assert_eq!(out.size, data.len() as u64);
//! assert_eq!(out.parts, 3);
//! assert_eq!(out.crc64, crc64::checksum(&data));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "emulator"))]
//! # fn main() {}
//! ```
//!
//! ## Errors
//!
//! Every failure is one [`Error`]. It is `#[non_exhaustive]`, and so are its
//! variants: match them with `..`. [`Error::Api`] holds what the server said
//! ([`ApiError`]: code, message, request id). Other variants say what went
//! wrong before or around the answer: bad input refused before sending,
//! configuration, credentials, transport, a redirect (never followed), an
//! answer that is not the API's, and for uploads a cancel, a CRC mismatch or
//! a local file error. No error, `Debug` or `Display` ever holds a secret or
//! a security token.
//!
//! ```no_run
//! use ens_upload::{Client, Error, PrepareUploadRequest};
//!
//! fn main() -> Result<(), Error> {
//!     let client = Client::builder().build()?;
//!     match client.prepare_upload(&PrepareUploadRequest::new("test")) {
//!         Ok(place) => println!("upload to {}", place.endpoint),
//!         Err(Error::Api(e)) if e.is_no_such_bucket() => {
//!             eprintln!("no such bucket (request id {})", e.request_id)
//!         }
//!         Err(e @ Error::Transport { .. }) => {
//!             eprintln!("no answer after {} attempts: {e}", e.attempts())
//!         }
//!         Err(e) => return Err(e),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Failed name lookups, connection failures, timeouts, HTTP 5xx and
//! throttling are retried with backoff, within the call timeout; a device
//! clock that is hours off is corrected from the server's `Date`.
//!
//! ## Features
//!
//! | Feature | Default | What it adds |
//! |---|---|---|
//! | `rustls` | on | TLS through rustls, with the Mozilla roots bundled |
//! | `bundled-roots` | on | the Mozilla roots for rustls; without it, the system CA bundle |
//! | `native-tls` | | TLS through the system's OpenSSL; wins when both are on |
//! | `emulator` | | [`emulator`]: a local ENS and OSS endpoint; turns on `acs3` |
//! | `acs3` | | `sign::acs3_hmac_sha256`, signature V3 |
//! | `cbindgen` | | regenerates `include/ens_upload.h` at build time |
//!
//! Without a TLS feature only `http://` endpoints work; [`TLS_BACKEND`] says
//! which one was compiled in.
//!
//! ## The C API
//!
//! C and C++ programs include `include/ens_upload.h` and link
//! `libens_upload.a` or `libens_upload.so`. The crate itself is an rlib, so
//! a Rust program that depends on it builds neither: `make` builds them
//! (`cargo rustc --release --lib --crate-type staticlib`, then `cdylib`).
//! The functions are in [`ffi`]; the rules they all follow (ownership,
//! strings, errors, threads, panics) and how to build, link and install are
//! in `docs/c-api.md`.
//!
//! ## The emulator
//!
//! With the `emulator` feature, [`emulator`] serves a local ENS endpoint and
//! its OSS side for tests and for devices under development. It checks
//! signatures, timestamps and nonces as the service does, and plays faults
//! on demand. Run it standalone with
//! `cargo run --example emulator --features emulator`; see
//! `docs/emulator.md`.
//!
// The `emulator` module exists only with its feature: without it, the links
// above go to this section instead of breaking.
#![cfg_attr(feature = "emulator", doc = "[`emulator`]: crate::emulator")]
#![cfg_attr(
    not(feature = "emulator"),
    doc = "[`emulator`]: #the-emulator \"needs the emulator feature\""
)]
#![deny(missing_docs)]
// `unsafe` is allowed only in the C layer (`ffi`), each block with a SAFETY note.
#![deny(unsafe_code)]

mod client;
mod clock;
pub mod crc64;
pub mod credentials;
mod error;
pub mod ffi;
mod files;
mod http;
mod prepare_upload;
mod redact;
pub mod response;
pub mod sign;
pub mod upload;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use client::TLS_BACKEND;
pub use client::{
    Client, ClientBuilder, Signature, API_VERSION, DEFAULT_ENDPOINT, MAX_RESPONSE_BYTES,
    MAX_TIMEOUT, USER_AGENT,
};
pub use credentials::{
    Credentials, CredentialsProvider, CredentialsUriProvider, DefaultCredentialsChain,
    DefaultCredentialsChainBuilder, EcsRamRoleProvider, ExternalProcessProvider, FetchContext,
    OidcRoleProvider, RamRoleArnProvider,
};
pub use error::{ApiError, Error, KnownCode, Result, SignatureDiagnosis, TransportKind};
pub use prepare_upload::{
    validate_bucket_name, validate_client_ip, PrepareUploadRequest, PrepareUploadResponse,
    MAX_BUCKET_NAME_LEN,
};
pub use upload::{OssSignature, ProgressAction, StorageClass, UploadOptions, UploadResult};

// The README's and docs/' Rust examples are compiled as doctests, so they
// cannot drift from the API (the emulator's page needs its feature:
// `cargo test --doc --features emulator`, as .ci/run runs it).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
#[cfg(doctest)]
#[doc = include_str!("../docs/upload.md")]
struct UploadDocDoctests;
#[cfg(doctest)]
#[doc = include_str!("../docs/credentials.md")]
struct CredentialsDocDoctests;
#[cfg(all(doctest, feature = "emulator"))]
#[doc = include_str!("../docs/emulator.md")]
struct EmulatorDocDoctests;
