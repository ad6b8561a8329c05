//! Which certificates verify the server, and what happens without TLS.

use std::path::Path;

use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// The root certificates a client trusts.
pub(crate) enum CaChoice<'a> {
    Bundled,
    BundledAnd(&'a Path),
    Only(&'a Path),
}

/// Sets the agent's TLS configuration for `ca`.
#[cfg(feature = "rustls")]
pub(crate) fn apply(
    config: ConfigBuilder<AgentScope>,
    _endpoint: &Endpoint,
    ca: CaChoice<'_>,
) -> Result<ConfigBuilder<AgentScope>> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = match ca {
        CaChoice::Bundled => RootCerts::WebPki,
        CaChoice::BundledAnd(path) => {
            let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            certs.extend(read_pem_certs(path)?);
            RootCerts::from(certs)
        }
        CaChoice::Only(path) => RootCerts::from(read_pem_certs(path)?),
    };
    Ok(config.tls_config(TlsConfig::builder().root_certs(roots).build()))
}

/// Without a TLS feature only `http://` endpoints work; say so at `build()`.
#[cfg(not(feature = "rustls"))]
pub(crate) fn apply(
    config: ConfigBuilder<AgentScope>,
    endpoint: &Endpoint,
    ca: CaChoice<'_>,
) -> Result<ConfigBuilder<AgentScope>> {
    if endpoint.is_https() {
        return Err(Error::config(format!(
            "{} is https, but ens-upload was built without a TLS feature; enable the `rustls` feature or use an http:// endpoint behind a TLS-terminating proxy",
            endpoint.as_str()
        )));
    }
    if !matches!(ca, CaChoice::Bundled) {
        return Err(Error::config(
            "a CA file needs a TLS feature (`rustls`); ens-upload was built without one",
        ));
    }
    Ok(config)
}

/// Every certificate of a PEM file; an error when there is none.
#[cfg(feature = "rustls")]
fn read_pem_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    use ureq::tls::PemItem;
    let pem = std::fs::read(path)
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
