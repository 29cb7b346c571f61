//! TLS for clients: the cluster's CA, and optionally a client certificate
//! (for a locked-down network where the API port is reached by workers
//! that prove who they are).
//!
//! A TLS failure is not "nobody is listening": it is reported at once, in
//! the words of the fix, instead of being retried until the deadline.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use tonic::Status;

/// What a client needs to speak TLS to a cluster.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// PEM of the CA (or CAs) that signed the nodes' certificates.
    pub ca_pem: Vec<u8>,
    /// PEM certificate and key, when the client shows one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the nodes' certificates are checked against, when it is not
    /// the host of the endpoint (e.g. endpoints given as IP addresses that
    /// the certificates do not list).
    pub domain: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("{what} {path}: cannot read: {source} (raftflow cert creates certificates; `raftflow dev` makes the local cluster's in data/certs)")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path}: holds no PEM {expected}")]
    NotPem {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("--cert and --key go together: {0} is missing")]
    HalfIdentity(&'static str),
}

fn read(what: &'static str, path: &Path, expected: &'static str) -> Result<Vec<u8>, TlsFileError> {
    let bytes = std::fs::read(path).map_err(|source| TlsFileError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN ") {
        return Err(TlsFileError::NotPem {
            what,
            path: path.to_path_buf(),
            expected,
        });
    }
    Ok(bytes)
}

impl ClientTls {
    /// Reads the CA and, when both are given, a client certificate and key.
    pub fn from_files(
        ca: &Path,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, TlsFileError> {
        let ca_pem = read("--ca", ca, "certificate")?;
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some((
                read("--cert", cert, "certificate")?,
                read("--key", key, "private key")?,
            )),
            (None, None) => None,
            (Some(_), None) => return Err(TlsFileError::HalfIdentity("--key")),
            (None, Some(_)) => return Err(TlsFileError::HalfIdentity("--cert")),
        };
        Ok(Self {
            ca_pem,
            identity,
            domain: None,
        })
    }

    pub(crate) fn config(&self) -> ClientTlsConfig {
        let mut config =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.ca_pem.clone()));
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert.clone(), key.clone()));
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        config
    }
}

/// A status and every error under it, as one line.
pub(crate) fn full_text(status: &Status) -> String {
    let mut text = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// When a call failed because of TLS, what is wrong and what to do.
pub(crate) fn tls_problem(status: &Status, uses_tls: bool) -> Option<String> {
    let text = full_text(status);
    let hint = if text.contains("InvalidContentType") || text.contains("corrupt message") {
        "the node does not speak TLS (its config says `insecure = true`?): use http:// endpoints and drop --ca"
    } else if text.contains("UnknownIssuer") {
        "the node's certificate is not signed by the CA given with --ca (RAFTFLOW_CA): pass the cluster's CA file"
    } else if text.contains("not valid for name") || text.contains("NotValidForName") {
        "the node's certificate does not name the host dialled: use a name the certificate lists, or make the node's certificate with that host (raftflow cert create-node --hosts …)"
    } else if text.contains("Expired") || text.contains("NotValidYet") {
        "a certificate is outside its validity period: renew it (raftflow cert create-node / create-client), or check this machine's clock"
    } else if text.contains("CertificateRequired") || text.contains("certificate required") {
        "the node requires a client certificate: pass --cert and --key"
    } else if text.contains("invalid peer certificate") || text.contains("received fatal alert") {
        "the TLS handshake failed"
    } else if !uses_tls
        && (text.contains("frame with invalid size")
            || text.contains("connection closed before message completed")
            || text.contains("broken pipe")
            || text.contains("connection reset"))
        && text.contains("transport error")
    {
        "the node may be running TLS while this client speaks plaintext: pass the cluster's CA with --ca (RAFTFLOW_CA) or use https:// endpoints"
    } else {
        return None;
    };
    Some(format!("{hint} ({text})"))
}
