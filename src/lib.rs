//! # ens-upload
//!
//! A small blocking client for Alibaba Cloud ENS (Edge Node Service, API
//! 2017-11-10) `PrepareUpload`: it asks ENS which bucket and endpoint an edge
//! device should upload to. Requests are signed with RPC signature 1.0
//! (HMAC-SHA1), byte for byte as the official SDKs sign them.
//!
//! ```no_run
//! use ens_upload::{Client, Credentials, PrepareUploadRequest};
//! let client = Client::builder()
//!     .credentials(Credentials::access_key("LTAI...", "secret"))
//!     .build()?;
//! let out = client.prepare_upload(&PrepareUploadRequest::new("test").client_ip("180.166.1.2"))?;
//! println!("{} {} {}", out.request_id, out.bucket_name, out.endpoint);
//! # Ok::<(), ens_upload::Error>(())
//! ```
//!
//! With the `emulator` feature, [`emulator`] serves a local ENS endpoint for
//! tests and for devices under development.

#![deny(missing_docs)]
// `unsafe` is allowed only in the C layer (`ffi`), each block with a SAFETY note.
#![deny(unsafe_code)]

mod client;
mod clock;
pub mod crc64;
pub mod credentials;
mod error;
pub mod ffi;
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
pub use credentials::Credentials;
pub use error::{ApiError, Error, KnownCode, Result, SignatureDiagnosis, TransportKind};
pub use prepare_upload::{
    validate_bucket_name, validate_client_ip, PrepareUploadRequest, PrepareUploadResponse,
    MAX_BUCKET_NAME_LEN,
};
pub use upload::{ProgressAction, UploadOptions, UploadResult};

// The README's Rust examples are compiled as doctests, so they cannot drift
// from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
