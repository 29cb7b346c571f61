//! Who a certificate speaks for, read from its subject alternative names.
//!
//! Node and client certificates come from the same cluster CA, so chaining
//! to the CA says only "one of ours". What a certificate may do is named by
//! a URI SAN that `raftflow cert` writes:
//!
//! ```text
//!  raftflow://node/3        node 3: may join the Raft port and speak as node 3 there
//!  raftflow://client/alice  a client (CLI, worker): the API port only
//! ```

use rustls::pki_types::CertificateDer;

/// The URI prefix of a node certificate; the node id follows.
pub const NODE_URI_PREFIX: &str = "raftflow://node/";
/// The URI prefix of a client certificate; the client's name follows.
pub const CLIENT_URI_PREFIX: &str = "raftflow://client/";

/// What a certificate's SANs say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Node(u64),
    Client(String),
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Node(id) => write!(f, "node {id}"),
            Identity::Client(name) => write!(f, "client {name}"),
        }
    }
}

/// The subject alternative names of a certificate, as text (`DNS:…`,
/// `IP:…`, `URI:…`); an empty list when it has none or cannot be read.
pub fn alt_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
            GeneralName::URI(u) => Some(format!("URI:{u}")),
            GeneralName::IPAddress(bytes) => ip_text(bytes).map(|ip| format!("IP:{ip}")),
            _ => None,
        })
        .collect()
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

/// The identity a certificate's URI SANs name. A certificate naming two
/// identities names none: it must not be able to choose which it shows.
pub fn identity_of(der: &CertificateDer<'_>) -> Option<Identity> {
    let mut found = alt_names(der)
        .into_iter()
        .filter_map(|name| name.strip_prefix("URI:").and_then(parse_uri));
    let first = found.next()?;
    match found.next() {
        None => Some(first),
        Some(_) => None,
    }
}

/// The node id a certificate is for, when it is a node certificate.
pub fn node_id_of(der: &CertificateDer<'_>) -> Option<u64> {
    match identity_of(der)? {
        Identity::Node(id) => Some(id),
        Identity::Client(_) => None,
    }
}

fn parse_uri(uri: &str) -> Option<Identity> {
    if let Some(id) = uri.strip_prefix(NODE_URI_PREFIX) {
        return id
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Identity::Node);
    }
    let name = uri.strip_prefix(CLIENT_URI_PREFIX)?;
    (!name.is_empty()).then(|| Identity::Client(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_nodes_and_clients() {
        assert_eq!(parse_uri("raftflow://node/3"), Some(Identity::Node(3)));
        assert_eq!(parse_uri("raftflow://node/0"), None);
        assert_eq!(parse_uri("raftflow://node/x"), None);
        assert_eq!(
            parse_uri("raftflow://client/ci"),
            Some(Identity::Client("ci".into()))
        );
        assert_eq!(parse_uri("raftflow://client/"), None);
        assert_eq!(parse_uri("spiffe://example/node/3"), None);
    }
}
