//! Making the cluster's certificates (rcgen): a CA, node certificates that
//! name their node, client certificates that name their client.
//!
//! ```text
//!  ca.pem, ca-key.pem            the cluster CA (10 years by default)
//!  node-<id>.pem, -key.pem       raftflow://node/<id> + the node's hosts; server and client auth
//!  client-<name>.pem, -key.pem   raftflow://client/<name>; client auth only
//! ```
//! Keys are ECDSA P-256 and written with mode 0600.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use super::identity::{CLIENT_URI_PREFIX, NODE_URI_PREFIX};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} exists already; remove it, or pass --force to replace it")]
    Exists { path: PathBuf },
    #[error("{0}")]
    Invalid(String),
}

/// A certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

fn validity(params: &mut CertificateParams, valid_days: u32) {
    let now = time::OffsetDateTime::now_utc();
    // An hour back: a peer whose clock is a little behind accepts it at once.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(valid_days.max(1)));
}

/// A new self-signed cluster CA.
pub fn create_ca(common_name: &str, valid_days: u32) -> Result<Issued, CertError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, valid_days);
    let cert = params.self_signed(&key)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn host_san(host: &str) -> Result<SanType, CertError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'));
    if !valid {
        return Err(CertError::Invalid(format!(
            "`{host}` is neither an IP address nor a DNS name"
        )));
    }
    Ok(SanType::DnsName(host.to_string().try_into()?))
}

fn uri_san(uri: String) -> Result<SanType, CertError> {
    Ok(SanType::URI(uri.try_into()?))
}

fn sign(params: CertificateParams, ca: &Issued) -> Result<Issued, CertError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A certificate for node `id`, valid for the `hosts` (DNS names and IP
/// addresses) its peers and clients dial it by.
pub fn create_node(
    ca: &Issued,
    id: u64,
    hosts: &[String],
    valid_days: u32,
) -> Result<Issued, CertError> {
    if id == 0 {
        return Err(CertError::Invalid("node ids start at 1".into()));
    }
    if hosts.is_empty() {
        return Err(CertError::Invalid(
            "a node certificate needs at least one host (--hosts): the names and addresses it is dialled by".into(),
        ));
    }
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("raftflow node {id}"));
    params.subject_alt_names = vec![uri_san(format!("{NODE_URI_PREFIX}{id}"))?];
    for host in hosts {
        params.subject_alt_names.push(host_san(host)?);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut params, valid_days);
    sign(params, ca)
}

/// A client certificate (CLI, worker) named `name`: letters, digits, `.`,
/// `_` and `-`.
pub fn create_client(ca: &Issued, name: &str, valid_days: u32) -> Result<Issued, CertError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(CertError::Invalid(format!(
            "client name `{name}`: use 1 to 64 letters, digits, '.', '_' or '-'"
        )));
    }
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("raftflow client {name}"));
    params.subject_alt_names = vec![uri_san(format!("{CLIENT_URI_PREFIX}{name}"))?];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut params, valid_days);
    sign(params, ca)
}

/// Reads a CA's certificate and key.
pub fn read_ca(cert: &Path, key: &Path) -> Result<Issued, CertError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| CertError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    Ok(Issued {
        cert_pem: read(cert)?,
        key_pem: read(key)?,
    })
}

/// Writes `<dir>/<stem>.pem` and `<dir>/<stem>-key.pem` (mode 0600); an
/// existing file is kept unless `force`.
pub fn write(
    dir: &Path,
    stem: &str,
    issued: &Issued,
    force: bool,
) -> Result<(PathBuf, PathBuf), CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}-key.pem"));
    for path in [&cert, &key] {
        if path.exists() && !force {
            return Err(CertError::Exists { path: path.clone() });
        }
    }
    write_file(&key, &issued.key_pem, 0o600)?;
    write_file(&cert, &issued.cert_pem, 0o644)?;
    Ok((cert, key))
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), CertError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}
