//! Host name resolution for the agent: IP literals without a lookup, names
//! from a short-lived cache.
//!
//! ureq resolves the host on every request, and with any timeout set it
//! does so on a freshly spawned thread (`getaddrinfo` cannot be timed out
//! otherwise): measured on loopback, that made a keep-alive call about five
//! times slower. The client needs the timeout (the call deadline must cover
//! DNS), so it keeps ureq's threaded lookup but runs it only on a cache miss.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a looked-up address is reused. Short, so a DNS change (a
/// failover) is followed within half a minute.
const CACHE_TTL: Duration = Duration::from_secs(30);
/// A client talks to a handful of hosts; more than this clears the cache.
const CACHE_MAX_HOSTS: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct CachingResolver {
    lookup: DefaultResolver,
    cache: Mutex<HashMap<String, (ResolvedSocketAddrs, Instant)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            let mut out = self.lookup.empty();
            out.push(SocketAddr::new(ip, port));
            return Ok(out);
        }

        let key = format!("{host}:{port}");
        let now = Instant::now();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((addrs, at)) = cache.get(&key) {
                if now.duration_since(*at) < CACHE_TTL {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX_HOSTS {
            cache.clear();
        }
        cache.insert(key, (addrs.clone(), now));
        Ok(addrs)
    }
}
