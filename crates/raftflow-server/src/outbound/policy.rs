//! Where the cluster may send HTTP requests (HTTP tasks, subscriptions):
//! an allow-list in the node's configuration, deny by default for the
//! addresses an attacker would aim a request at from inside (SSRF):
//! loopback, private, link-local (cloud metadata at 169.254.169.254),
//! unique-local, unspecified, multicast, and the node's own ports.
//!
//! ```text
//!  URL ──scheme, host allowed?──▶ resolve ──each address allowed?──▶ connect to that address
//! ```
//! The address is checked after DNS resolution, on the very address the
//! caller then connects to (caller.rs), so a name that resolves to a public
//! address when checked and a private one when used (DNS rebinding) is
//! never connected to.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::Deserialize;

/// The node's outbound rules (`[outbound]` in its configuration).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Host names requests may go to (exact, or `*.example.com` for its
    /// subdomains); empty: any host whose addresses are allowed.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Address ranges allowed although they are private, loopback or
    /// link-local (`10.0.0.0/8`, `127.0.0.1/32`).
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    /// Plain `http://` allowed as well as `https://`.
    #[serde(default)]
    pub allow_plain_http: bool,
    /// HTTP calls the leader makes at once, at most.
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
    /// Of those, to one host at most: a slow endpoint holds no more of the
    /// pool than this; its other calls wait in its own queue.
    #[serde(default = "default_max_calls_per_host")]
    pub max_calls_per_host: usize,
    /// PEM files of CAs trusted besides the Mozilla roots (internal
    /// endpoints under a private CA). A relative path is taken from the
    /// config file's folder.
    #[serde(default)]
    pub ca_files: Vec<std::path::PathBuf>,
}

/// Calls in flight at once, at most, whatever the config says.
pub const MAX_CALLS_LIMIT: usize = 4096;

fn default_max_calls() -> usize {
    64
}

fn default_max_calls_per_host() -> usize {
    16
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            allow_cidrs: Vec::new(),
            allow_plain_http: false,
            max_calls: default_max_calls(),
            max_calls_per_host: default_max_calls_per_host(),
            ca_files: Vec::new(),
        }
    }
}

impl OutboundConfig {
    /// Makes relative `ca_files` relative to the config file's folder.
    pub fn resolve(&mut self, base: &std::path::Path) {
        for path in &mut self.ca_files {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The CAs HTTP calls trust: the Mozilla roots and `ca_files`.
    pub fn roots(&self) -> Result<rustls::RootCertStore, String> {
        let mut roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for path in &self.ca_files {
            let chain = crate::tls::files::read_chain("outbound.ca_files", path)
                .map_err(|e| e.to_string())?;
            for cert in chain {
                roots.add(cert).map_err(|e| {
                    format!(
                        "outbound.ca_files: {}: not a usable CA certificate: {e}",
                        path.display()
                    )
                })?;
            }
        }
        Ok(roots)
    }

    /// The pool sizes: 1 to 4,096 calls, per host no more than in all.
    pub fn check_pool(&self) -> Result<(), String> {
        if self.max_calls == 0 || self.max_calls > MAX_CALLS_LIMIT {
            return Err(format!(
                "outbound.max_calls is 1 to {MAX_CALLS_LIMIT}, not {}",
                self.max_calls
            ));
        }
        if self.max_calls_per_host == 0 || self.max_calls_per_host > self.max_calls {
            return Err(format!(
                "outbound.max_calls_per_host is 1 to max_calls ({}), not {}",
                self.max_calls, self.max_calls_per_host
            ));
        }
        Ok(())
    }
}

/// Why a destination is refused. The message names what to allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("`{0}` is not an http(s) URL")]
    NotHttp(String),
    #[error("plain http to {0} is refused; use https, or set outbound.allow_plain_http")]
    PlainHttp(String),
    #[error("host {0} is not in outbound.allow_hosts")]
    Host(String),
    #[error("{host} resolves to {addr}, a {kind} address; allow it with outbound.allow_cidrs")]
    Address {
        host: String,
        addr: IpAddr,
        kind: &'static str,
    },
    #[error("{0} is this node's own port")]
    OwnPort(SocketAddr),
}

/// The rules, read and checked once.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    hosts: Vec<String>,
    cidrs: Vec<IpNet>,
    plain_http: bool,
    own: Vec<SocketAddr>,
}

impl Destinations {
    /// Reads `config`; `own` are the node's listening addresses.
    pub fn new(config: &OutboundConfig, own: Vec<SocketAddr>) -> Result<Self, String> {
        config.check_pool()?;
        let cidrs = config
            .allow_cidrs
            .iter()
            .map(|c| {
                c.parse::<IpNet>()
                    .map_err(|e| format!("outbound.allow_cidrs: `{c}` is not a CIDR ({e})"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            hosts: config
                .allow_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            cidrs,
            plain_http: config.allow_plain_http,
            own,
        })
    }

    /// The URL's scheme and host, before any resolution: `(https, host, port)`.
    pub fn check_url(&self, url: &http::Uri) -> Result<(bool, String, u16), Denied> {
        let text = url.to_string();
        let https = match url.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(Denied::NotHttp(text)),
        };
        let host = url
            .host()
            .ok_or_else(|| Denied::NotHttp(text.clone()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if !https && !self.plain_http {
            return Err(Denied::PlainHttp(host));
        }
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| host_matches(h, &host)) {
            return Err(Denied::Host(host));
        }
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok((https, host, port))
    }

    /// One resolved address of `host`, as it will be connected to. The
    /// node's own ports are refused even inside an allowed range.
    pub fn check_addr(&self, host: &str, addr: SocketAddr) -> Result<(), Denied> {
        let ip = canonical(addr.ip());
        let own = self.own.iter().any(|o| {
            o.port() == addr.port()
                && (o.ip() == ip || (o.ip().is_unspecified() && ip.is_loopback()))
        });
        if own {
            return Err(Denied::OwnPort(addr));
        }
        if self.cidrs.iter().any(|c| c.contains(&ip)) {
            return Ok(());
        }
        match special(ip) {
            Some(kind) => Err(Denied::Address {
                host: host.to_string(),
                addr: ip,
                kind,
            }),
            None => Ok(()),
        }
    }

    /// A connection made: refused when it reached one of the node's own
    /// ports on the node's own address (a node listening on `0.0.0.0`
    /// answers on every address it has).
    pub fn check_connected(&self, local: SocketAddr, peer: SocketAddr) -> Result<(), Denied> {
        let own_port = self.own.iter().any(|o| o.port() == peer.port());
        if own_port && canonical(local.ip()) == canonical(peer.ip()) {
            return Err(Denied::OwnPort(peer));
        }
        Ok(())
    }
}

/// `*.example.com` matches its subdomains; anything else matches itself.
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => pattern == host,
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is checked as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The kind of address refused by default, if it is one.
fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || a == 0 {
                Some("non-routable")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unique_local() {
                Some("private")
            } else if v6.is_unicast_link_local() {
                Some("link-local")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("non-routable")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
