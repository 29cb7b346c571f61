//! Reading PEM files, with errors that name the setting, the file and what
//! was expected in it.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{field} {path}: cannot read: {source}")]
    Read {
        field: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{field} {path}: holds no PEM certificate (expected a -----BEGIN CERTIFICATE----- block)"
    )]
    NoCertificate { field: &'static str, path: PathBuf },
    #[error("{field} {path}: holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, or an RSA or EC key)")]
    NoKey { field: &'static str, path: PathBuf },
    #[error("{field} {path}: {message}")]
    Invalid {
        field: &'static str,
        path: PathBuf,
        message: String,
    },
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Read {
        field,
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate of a PEM file, in order (leaf first for a chain).
pub fn read_chain(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let bytes = read(field, path)?;
    parse_chain(&bytes).map_err(|message| match message {
        None => FileError::NoCertificate {
            field,
            path: path.to_path_buf(),
        },
        Some(message) => FileError::Invalid {
            field,
            path: path.to_path_buf(),
            message,
        },
    })
}

/// The certificates of a PEM text; `Err(None)` when it holds none.
pub fn parse_chain(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, Option<String>> {
    let chain = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Some(format!("not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(None);
    }
    Ok(chain)
}

/// The private key of a PEM file. A key others can read is used, with a
/// warning: whoever reads it can speak as this node.
pub fn read_key(field: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, FileError> {
    let bytes = read(field, path)?;
    warn_if_readable_by_others(field, path);
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => FileError::NoKey {
            field,
            path: path.to_path_buf(),
        },
        other => FileError::Invalid {
            field,
            path: path.to_path_buf(),
            message: format!("not a valid PEM private key: {other}"),
        },
    })
}

fn warn_if_readable_by_others(field: &'static str, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{field} {}: mode {:o} lets other users read this private key; chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
    }
}

/// The trusted CA certificates of a PEM file (one or several).
pub fn read_roots(field: &'static str, path: &Path) -> Result<RootCertStore, FileError> {
    let mut roots = RootCertStore::empty();
    for cert in read_chain(field, path)? {
        roots.add(cert).map_err(|e| FileError::Invalid {
            field,
            path: path.to_path_buf(),
            message: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}
