//! Which TLS library talks to the server, and which certificates it trusts.
//!
//! - feature `rustls` (default): rustls, trusting the bundled Mozilla roots
//!   (feature `bundled-roots`, default) or, without them, the system's CA
//!   bundle: a device that has one saves about 200 KB;
//! - feature `native-tls`: the system's OpenSSL and its CA store (chosen
//!   when both features are on, since `rustls` is on by default);
//! - neither: only `http://` endpoints, e.g. behind a TLS-terminating proxy;
//!   an https endpoint is refused at `build()` with a message saying so.

use std::path::PathBuf;

use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

use crate::error::{Error, Result};
use crate::http::Endpoint;

/// The root certificates a client trusts: the backend's own roots
/// (bundled for rustls, the system's for native-tls) unless turned off,
/// plus every certificate of each PEM file, in the order added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CaChoice {
    pub(crate) backend_roots: bool,
    pub(crate) files: Vec<PathBuf>,
}

impl Default for CaChoice {
    fn default() -> Self {
        CaChoice {
            backend_roots: true,
            files: Vec::new(),
        }
    }
}

/// The TLS backend compiled in, for messages and the C API.
pub const TLS_BACKEND: &str = if cfg!(feature = "native-tls") {
    "native-tls"
} else if cfg!(feature = "rustls") {
    "rustls"
} else {
    "none"
};

/// Sets the agent's TLS configuration for `ca`.
#[cfg(any(feature = "rustls", feature = "native-tls"))]
pub(crate) fn apply(
    config: ConfigBuilder<AgentScope>,
    endpoint: &Endpoint,
    ca: &CaChoice,
) -> Result<ConfigBuilder<AgentScope>> {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
    let provider = if cfg!(feature = "native-tls") {
        TlsProvider::NativeTls
    } else {
        TlsProvider::Rustls
    };
    let roots = if ca.backend_roots && ca.files.is_empty() && cfg!(feature = "native-tls") {
        RootCerts::PlatformVerifier
    } else {
        let mut certs = if ca.backend_roots {
            backend_roots(endpoint)?
        } else {
            Vec::new()
        };
        for path in &ca.files {
            certs.extend(read_pem_certs(path)?);
        }
        RootCerts::from(certs)
    };
    let tls = TlsConfig::builder()
        .provider(provider)
        .root_certs(roots)
        .build();
    Ok(config.tls_config(tls))
}

/// Without a TLS feature only `http://` endpoints work; say so at `build()`.
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
pub(crate) fn apply(
    config: ConfigBuilder<AgentScope>,
    endpoint: &Endpoint,
    ca: &CaChoice,
) -> Result<ConfigBuilder<AgentScope>> {
    if endpoint.is_https() {
        return Err(Error::config(format!(
            "{} is https, but ens-upload was built without a TLS feature; enable the `rustls` or `native-tls` feature, or use an http:// endpoint behind a TLS-terminating proxy",
            endpoint.as_str()
        )));
    }
    if *ca != CaChoice::default() {
        return Err(Error::config(
            "a CA file needs a TLS feature (`rustls` or `native-tls`); ens-upload was built without one",
        ));
    }
    Ok(config)
}

/// The bundled Mozilla roots, as certificates that can be joined with others.
#[cfg(all(
    feature = "rustls",
    feature = "bundled-roots",
    not(feature = "native-tls")
))]
fn backend_roots(_endpoint: &Endpoint) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    Ok(webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect())
}

/// The system's CA bundle: for native-tls (which cannot add roots beside
/// its built-in ones, so they are read and passed together), and for
/// rustls built without `bundled-roots`.
#[cfg(all(
    any(feature = "rustls", feature = "native-tls"),
    any(feature = "native-tls", not(feature = "bundled-roots"))
))]
fn backend_roots(endpoint: &Endpoint) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    match system_bundle() {
        Some(path) => read_pem_certs(&path),
        // Nothing to verify an https endpoint with. (An http one can still
        // work; an https upload host then fails its handshake.)
        None if endpoint.is_https() || cfg!(feature = "native-tls") => Err(Error::config(format!(
            "no system CA bundle found (looked at SSL_CERT_FILE and {}); use ca_file_only{}",
            SYSTEM_BUNDLES.join(", "),
            if cfg!(feature = "native-tls") {
                ""
            } else {
                ", or build ens-upload with the `bundled-roots` feature"
            }
        ))),
        None => Ok(Vec::new()),
    }
}

/// Where Linux distributions keep the CA bundle.
#[cfg(all(
    any(feature = "rustls", feature = "native-tls"),
    any(feature = "native-tls", not(feature = "bundled-roots"))
))]
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// `SSL_CERT_FILE`, else the first of the usual places that exists.
#[cfg(all(
    any(feature = "rustls", feature = "native-tls"),
    any(feature = "native-tls", not(feature = "bundled-roots"))
))]
fn system_bundle() -> Option<PathBuf> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|path| path.is_file())
}

/// Every certificate of a PEM file; an error when there is none.
#[cfg(any(feature = "rustls", feature = "native-tls"))]
fn read_pem_certs(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    use ureq::tls::PemItem;
    // A CA bundle is a few hundred KiB; 16 MiB is plenty, and a FIFO
    // fails at once instead of blocking build().
    let pem = crate::files::read_capped(path, 16 << 20)
        .map_err(|e| Error::config(format!("cannot read CA file {}: {e}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::config(format!(
                    "CA file {} is not valid PEM: {e}",
                    path.display()
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::config(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}
