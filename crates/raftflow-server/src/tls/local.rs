//! Certificates for a cluster on one machine (`raftflow dev`, the quick
//! start, tests): made on first start, kept and reused after.

use std::path::{Path, PathBuf};

use super::certs::{self, CertError, Issued};

/// The files of a local cluster's certificates.
#[derive(Debug, Clone)]
pub struct LocalCerts {
    pub dir: PathBuf,
    pub ca: PathBuf,
    /// The client certificate the CLI uses (`client-local`).
    pub client: (PathBuf, PathBuf),
}

impl LocalCerts {
    pub fn node(&self, id: u64) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("node-{id}.pem")),
            self.dir.join(format!("node-{id}-key.pem")),
        )
    }
}

/// The names node certificates must carry: `base`, then the host of each
/// address, each once.
pub fn hosts_of<'a>(base: &[&str], addrs: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut hosts: Vec<String> = base.iter().map(|h| h.to_string()).collect();
    for host in addrs.into_iter().filter_map(super::host_of) {
        if !hosts.iter().any(|h| h == host) {
            hosts.push(host.to_string());
        }
    }
    hosts
}

/// Makes what is missing in `dir`: a CA, a certificate for each of `ids`
/// valid for `hosts`, and a client certificate. Existing files are kept.
pub fn ensure(dir: &Path, ids: &[u64], hosts: &[String]) -> Result<LocalCerts, CertError> {
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca-key.pem");
    let ca = if ca_cert.exists() && ca_key.exists() {
        certs::read_ca(&ca_cert, &ca_key)?
    } else {
        let ca = certs::create_ca("raftflow local CA", 3650)?;
        certs::write(dir, "ca", &ca, true)?;
        ca
    };
    for id in ids {
        make_if_missing(dir, &format!("node-{id}"), || {
            certs::create_node(&ca, *id, hosts, 825)
        })?;
    }
    make_if_missing(dir, "client-local", || {
        certs::create_client(&ca, "local", 825)
    })?;
    Ok(LocalCerts {
        dir: dir.to_path_buf(),
        ca: ca_cert,
        client: (
            dir.join("client-local.pem"),
            dir.join("client-local-key.pem"),
        ),
    })
}

fn make_if_missing(
    dir: &Path,
    stem: &str,
    make: impl FnOnce() -> Result<Issued, CertError>,
) -> Result<(), CertError> {
    let exists =
        dir.join(format!("{stem}.pem")).exists() && dir.join(format!("{stem}-key.pem")).exists();
    if !exists {
        certs::write(dir, stem, &make()?, true)?;
    }
    Ok(())
}
